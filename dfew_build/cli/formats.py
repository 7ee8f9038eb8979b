"""`dfew-build export` and `dfew-build import-dfew`: the DFEW release layout and Former-DFER
list files (docs/formats.md)."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, pass_state, show_progress

SHOWN_PROBLEMS = 20


def _outcomes(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {outcome}" for outcome, n in counts.items())


def _echo_problems(lines: list[str], prefix: str) -> None:
    for line in lines[:SHOWN_PROBLEMS]:
        click.echo(f"{prefix}: {line}", err=True)
    if len(lines) > SHOWN_PROBLEMS:
        click.echo(f"... and {len(lines) - SHOWN_PROBLEMS} more (--json lists them all)", err=True)


@click.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["dfew", "former-dfer"]), required=True,
              help="dfew: DFEW's release layout (Clip/, EmoLabel_DataSplit/, Annotation/); "
                   "former-dfer: Former-DFER/DFER-CLIP list files "
                   "annotation/DFEW_set_{k}_{train,test}.txt, `path num_frames label0`.")
@click.option("--scheme", default="default", show_default=True,
              help="The folds to write (dfew-build folds --scheme).")
@click.option("--threshold", default=6, show_default=True, type=click.IntRange(0),
              help="Single label when an emotion has more than this many votes.")
@click.option("--frames", type=click.Choice(["all", "16"]), default="all", show_default=True,
              help="former-dfer only: list every aligned frame (WS/faces/frames), or the "
                   "16-frame sets (written under OUT from the tensor store). Clips with "
                   "fewer than 16 frames (dropped by Former-DFER's 2021 loader) are counted "
                   "in the summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_state
def export(state, out, fmt, scheme, threshold, frames, as_json) -> None:
    """Write the workspace's dataset to OUT for existing DFER code.

    Files are hard-linked where the file system allows, copied otherwise; re-running
    skips files that are already identical. Clips that lack a part (not cut, not
    preprocessed) are reported and the rest is written.
    """
    workspace = state.workspace()
    if fmt == "dfew":
        from dfew_build.formats.dfew_export import export_dfew

        report = export_dfew(workspace, out, scheme=scheme, threshold=threshold,
                             progress=show_progress())
    else:
        from dfew_build.formats.former_dfer import export_former_dfer

        report = export_former_dfer(workspace, out, scheme=scheme, frames=frames,
                                    threshold=threshold, progress=show_progress())
    if as_json:
        echo_json(report.as_dict())
        return
    _echo_problems(report.missing_lines(), "missing")
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    for kind, counts in report.files.as_dict().items():
        click.echo(f"{kind}: {_outcomes(counts)}")
    folds = f"{report.folds} folds of scheme {scheme!r}" if report.folds else "no folds"
    click.echo(f"exported {report.clips} clips and {folds} to {report.out} ({fmt})")


@click.command("import-dfew")
@click.argument("root", type=click.Path(file_okay=False))
@click.option("--workspace-path", type=click.Path(file_okay=False),
              help="Create (if needed) a workspace in this folder and import into it, "
                   "instead of the current workspace (-w / DFEW_WORKSPACE).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_state
def import_dfew_command(state, root, workspace_path, as_json) -> None:
    """Read a DFEW release at ROOT into a new or empty workspace.

    Clips (ids = DFEW numbers), vote counts (as votes of inactive placeholder raters
    dfew-release:rater-NN), the official folds (scheme dfew-official), aligned frames and
    the 16-frame sets (tensor stores 224px_16f and 112px_16f). Bad rows and missing files
    are reported and the rest imported; running it again adds nothing twice.
    """
    from dfew_build.formats.dfew_import import OFFICIAL_SCHEME, import_dfew

    if workspace_path:
        from dfew_build.workspace import init_workspace

        workspace, _ = init_workspace(workspace_path)
    else:
        workspace = state.workspace()
    report = import_dfew(workspace, root, progress=show_progress())
    if as_json:
        echo_json(report.as_dict())
    else:
        _echo_problems(report.problems, "problem")
        for kind, counts in report.files.as_dict().items():
            click.echo(f"{kind}: {_outcomes(counts)}")
        tensors = ", ".join(f"{n} into {k}" for k, n in report.tensors_added.items()) or "none"
        click.echo(
            f"imported {report.clips_added} clips ({report.clips_present} already present), "
            f"{report.votes_added} votes, {report.tracks_added} face tracks, "
            f"{report.folds_added} fold rows of scheme {OFFICIAL_SCHEME!r} "
            f"({report.folds_k} folds), 16-frame sets: {tensors}; "
            f"{len(report.problems)} problem(s), {report.label_disagreements} label "
            f"disagreement(s) into {workspace.root}")
    if not report.clips_added and not report.clips_present:
        raise click.ClickException(f"nothing imported from {report.root}: no usable row in "
                                   f"{report.annotation}")
