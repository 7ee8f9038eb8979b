"""`dfew-build kappa`, `labels`, `annotators` and `report`: agreement and the label subset."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, format_table, pass_state

_raters_option = click.option(
    "--raters", type=click.IntRange(min=1), metavar="N",
    help="Votes a clip is meant to get, the n of the single-label rule l_k / n_i > R / n "
         "(default: [annotation] raters_per_clip in dfew.toml, 10). Not a filter: every clip "
         "with at least 2 counted votes is used; a value that fewer than half of them have "
         "is refused.")
_threshold_option = click.option(
    "--threshold", default=6, show_default=True, type=click.IntRange(min=0), metavar="R",
    help="A clip is single-labelled with emotion k when more than R of its votes are k "
         "(DFEW: 6, i.e. at least 7 of 10).")


def _raters(workspace, raters: int | None) -> dict:
    """n and whether to check it: a typed --raters is refused when few clips have it."""
    from dfew_build.labels.views import raters_per_clip

    if raters is None:
        return {"raters": raters_per_clip(workspace.config), "check_raters": False}
    return {"raters": raters, "check_raters": True}


@click.command()
@click.option("--subset", type=click.Choice(["all", "single"]), default="all",
              show_default=True, help="All clips with n votes, or the single-labelled ones.")
@_threshold_option
@_raters_option
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=0),
              metavar="B", help="Bootstrap resamples of clips for the interval (0: none).")
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap seed.")
@click.option("--confidence", default=0.95, show_default=True,
              type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Interval coverage.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]),
              default="table", show_default=True)
@pass_state
def kappa(state, subset, threshold, raters, bootstrap, seed, confidence, fmt) -> None:
    """Fleiss' kappa and Krippendorff's alpha of the counted votes, overall and per
    emotion, with bootstrap intervals.

    Uses every clip with at least 2 counted votes (not retired, annotator not excluded).
    With the same number of votes on every clip kappa is statsmodels' fleiss_kappa; with
    varying numbers it is Fleiss' kappa generalised to them, and DFEW's fixed-n value on
    the clips with exactly n votes is printed for comparison. The counts per clip and what
    was left out are printed. Intervals: seeded percentile bootstrap over clips, not the
    null-hypothesis interval. Bands after Landis & Koch (1977). A kappa that is undefined
    (one rater, every vote the same emotion) is explained instead of shown.
    """
    from dfew_build.labels import render
    from dfew_build.labels.views import kappa_view

    workspace = state.workspace()
    with workspace.session() as session:
        view = kappa_view(session, **_raters(workspace, raters), subset=subset,
                          threshold=threshold, bootstrap=bootstrap, seed=seed,
                          confidence=confidence)
    if fmt == "json":
        echo_json(view)
        return
    headline = render.kappa_headline(view)
    if fmt == "markdown":
        click.echo("\n\n".join(headline))
        if view["overall"]["kappa"] is not None:
            click.echo()
            click.echo(render.markdown_table(render.kappa_rows(view), render.KAPPA_COLUMNS))
        return
    click.echo("\n".join(headline))
    if view["overall"]["kappa"] is not None:
        click.echo()
        click.echo(format_table(render.kappa_rows(view), render.KAPPA_COLUMNS))


@click.command()
@_threshold_option
@_raters_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary and Table 2 as JSON.")
@click.option("--output", type=click.Path(dir_okay=False, allow_dash=True), metavar="CSV",
              help="Also write the subset as `clip_id,label` (codes 1..7); `-` for stdout.")
@pass_state
def labels(state, threshold, raters, as_json, output) -> None:
    """The single-label subset and DFEW's Table 2 (emotion x duration).

    A clip with n_i counted votes (at least 2) is single-labelled with emotion k when
    l_k / n_i > R / n (DFEW: R = 6 of n = 10, more than 60 %; with exactly n votes, l_k >
    R). Table 2 counts them per emotion and clip duration (0-2 s, 2-5 s, 5 s+; a clip of
    exactly 2 s or 5 s falls in the longer bin), in DFEW's emotion order.
    """
    from dfew_build.labels import render
    from dfew_build.labels.views import single_label_view

    workspace = state.workspace()
    with workspace.session() as session:
        view, subset = single_label_view(session, **_raters(workspace, raters),
                                         threshold=threshold)
    if output:
        _write_labels(subset, output)
    if as_json:
        echo_json(view)
        return
    for line in render.labels_headline(view):
        click.echo(line)
    click.echo()
    click.echo(format_table(render.table2_rows(view), render.TABLE2_COLUMNS))
    if output and output != "-":
        click.echo(f"wrote {len(subset)} labels to {output}")


def _write_labels(subset, output: str) -> None:
    from dfew_build.labels.files import atomic_write_text

    text = "clip_id,label\n" + "".join(f"{c},{v}\n" for c, v in subset.items())
    if output == "-":
        click.echo(text, nl=False)
        return
    try:
        atomic_write_text(output, text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON, confusion matrices included.")
@pass_state
def annotators(state, as_json) -> None:
    """Annotator quality: votes, agreement with the leave-one-out majority, and a
    Dawid-Skene confusion matrix per annotator.

    Only counted votes: votes on retired clips, on gold check clips and by excluded
    annotators are left out (excluded annotators are listed below the table with their
    reason). The gold columns are each annotator's votes on gold clips, how many match the
    known answer, and that share. Placeholder persons
    from a DFEW release import (names starting with `dfew-release:`) are not people: their
    votes count as evidence but they are not listed.
    """
    from dfew_build.labels import render
    from dfew_build.labels.quality import annotator_view

    workspace = state.workspace()
    with workspace.session() as session:
        view = annotator_view(session)
    if as_json:
        echo_json(view)
        return
    if not view["annotators"]:
        click.echo(view["note"])
        for line in render.gold_only_lines(view) + render.excluded_lines(view):
            click.echo(line)
        return
    click.echo(format_table(render.annotator_rows(view), render.ANNOTATOR_COLUMNS))
    for line in render.gold_only_lines(view) + render.excluded_lines(view):
        click.echo(line)
    if view["excluded_placeholders"]:
        click.echo(f"({view['excluded_placeholders']} placeholder rater(s) from a DFEW release "
                   "not listed)")
    click.echo("loo_agreement: share of votes equal to the majority of the other votes on "
               "the clip; ds_accuracy: Dawid-Skene P(says the true emotion); gold_*: votes "
               "on gold check clips (dfew-build clips gold), which count nowhere else")
    click.echo(render.ANNOTATOR_LEGEND)


@click.command()
@click.argument("out_dir", metavar="[OUT_DIR]", required=False, type=click.Path(file_okay=False))
@_threshold_option
@_raters_option
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the bootstrap and Dawid-Skene.")
@pass_state
def report(state, out_dir, threshold, raters, seed) -> None:
    """Write report.md, report.html and PNG plots of agreement, labels and annotators.

    OUT_DIR (default: WS/reports, where the demo writes it) is created if needed; files
    in it are replaced.
    """
    from dfew_build.labels.report import write_report

    workspace = state.workspace()
    with workspace.session() as session:
        written = write_report(session, out_dir or workspace.root / "reports", **_raters(workspace, raters),
                               threshold=threshold, seed=seed)
    click.echo(f"wrote {written['markdown']} and {written['html']} "
               f"({len(written['figures'])} figures)")
