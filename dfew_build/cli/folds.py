"""`dfew-build folds`: DFEW's k-fold protocol, stored per scheme."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, format_table, pass_state


@click.command()
@click.option("--k", "k", default=5, show_default=True, type=click.IntRange(2, 100),
              help="Number of folds (DFEW: 5).")
@click.option("--scheme", default="default", show_default=True,
              help="Name the folds are stored under (train --scheme reads them).")
@click.option("--seed", default=0, show_default=True, type=int, help="Shuffling seed.")
@click.option("--group-by", type=click.Choice(["movie"]),
              help="Keep every movie's clips in one fold (no actor in both train and test).")
@click.option("--subset", type=click.Choice(["single", "all"]), default="single",
              show_default=True,
              help="single: DFEW's single-labelled clips; all: every voted clip, "
                   "stratified by its plurality vote.")
@click.option("--threshold", default=6, show_default=True, type=click.IntRange(0),
              help="Single label when an emotion has more than this many votes.")
@click.option("--include-unprocessed", is_flag=True,
              help="Also use clips that preprocessing has not kept (by default only clips "
                   "with a kept face track are split, as DFEW did).")
@click.option("--replace", is_flag=True, help="Overwrite a scheme that holds different folds.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def folds(state, k, scheme, seed, group_by, subset, threshold, include_unprocessed, replace,
          as_json) -> None:
    """Split the labelled clips into K stratified, same-size, non-overlapping folds.

    Fold sizes differ by at most one, and so does each emotion's count per fold.
    Deterministic for a seed; re-running with the same inputs leaves the scheme unchanged.
    Only counted votes label the clips (retired clips and excluded annotators' votes
    count nowhere); the single-label share is THRESHOLD / [annotation] raters_per_clip. A
    stored scheme that holds a retired clip is named in the refusal; --replace rebuilds
    it without them.
    """
    from dfew_build.labels.views import raters_per_clip
    from dfew_build.splits import plan_folds, save_folds

    workspace = state.workspace()
    with workspace.session() as session:
        plan = plan_folds(session, k=k, scheme=scheme, seed=seed, group_by=group_by,
                          subset=subset, threshold=threshold,
                          raters=raters_per_clip(workspace.config),
                          require_kept=not include_unprocessed)
        plan = save_folds(session, plan, replace=replace)
    result = plan.as_dict()
    if as_json:
        echo_json(result)
        return
    rows = result["folds"]
    click.echo(format_table(rows, list(rows[0].keys())))
    for why, count in plan.left_out.items():
        click.echo(f"left out: {count} clip(s) {why}", err=True)
    if plan.retired_dropped:
        shown = ", ".join(str(c) for c in plan.retired_dropped[:10])
        more = " and more" if len(plan.retired_dropped) > 10 else ""
        click.echo(f"replaced: {len(plan.retired_dropped)} retired clip(s) left scheme "
                   f"{scheme!r} ({shown}{more})", err=True)
    imbalance = result["imbalance"]
    grouped = f", grouped by {group_by}" if group_by else ""
    click.echo(f"scheme {scheme!r} {plan.status}: {result['clips']} clips in {k} folds "
               f"(seed {seed}{grouped}); largest spread between folds: {imbalance['size']} "
               f"clips in size, {imbalance['per_class']} in one emotion")
