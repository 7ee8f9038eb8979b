"""`dfew-build folds`: DFEW's k-fold protocol, stored per scheme."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, format_table, pass_state, show_progress

SHOWN_IDS = 10  # clip pairs / ids listed per line (--json lists all)


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
@click.option("--allow-leakage", is_flag=True,
              help="Do not keep near-duplicate and overlapping clips in one fold (they are "
                   "still found and reported).")
@click.option("--jobs", type=click.IntRange(1), default=None,
              help="Threads hashing clip frames for the near-duplicate check [default: "
                   "all cores].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def folds(state, k, scheme, seed, group_by, subset, threshold, include_unprocessed, replace,
          allow_leakage, jobs, as_json) -> None:
    """Split the labelled clips into K stratified, same-size, non-overlapping folds.

    Fold sizes differ by at most one, and so does each emotion's count per fold.
    Deterministic for a seed; re-running with the same inputs leaves the scheme unchanged.
    Only counted votes label the clips (retired clips and excluded annotators' votes
    count nowhere); the single-label share is THRESHOLD / [annotation] raters_per_clip. A
    stored scheme that holds a retired clip is named in the refusal; --replace rebuilds
    it without them.

    Leakage: clips of one movie whose spans overlap, and clips with near-duplicate footage
    (a re-encoded copy of a movie is another movie by fingerprint; found by a perceptual
    hash of frames sampled at 4 fps, cached in WS/cache) are kept in one fold, unless
    --allow-leakage. Every such pair is reported.
    """
    from dfew_build.labels.views import raters_per_clip
    from dfew_build.splits import plan_folds, save_folds

    workspace = state.workspace()
    with workspace.session() as session:
        plan = plan_folds(session, k=k, scheme=scheme, seed=seed, group_by=group_by,
                          subset=subset, threshold=threshold,
                          raters=raters_per_clip(workspace.config),
                          require_kept=not include_unprocessed, workspace=workspace,
                          allow_leakage=allow_leakage, jobs=jobs, progress=show_progress())
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
    for line in leakage_lines(plan):
        click.echo(line, err=True)
    imbalance = result["imbalance"]
    grouped = f", grouped by {group_by}" if group_by else ""
    together = sum(len(ids) for ids in plan.groups.values())
    kept = (f"; {together} linked clips kept in {len(plan.groups)} group(s)"
            if plan.groups else "")
    click.echo(f"scheme {scheme!r} {plan.status}: {result['clips']} clips in {k} folds "
               f"(seed {seed}{grouped}{kept}); largest spread between folds: "
               f"{imbalance['size']} clips in size, {imbalance['per_class']} in one emotion")


def _pairs(links) -> str:
    shown = ", ".join(f"{link.a}~{link.b}" for link in links[:SHOWN_IDS])
    return shown + (f" and {len(links) - SHOWN_IDS} more" if len(links) > SHOWN_IDS else "")


def leakage_lines(plan) -> list[str]:
    """What the leakage check found, one line per kind (the --json output has every pair)."""
    leakage = plan.leakage
    lines = []
    for kind, what in (("near-duplicate", "with near-duplicate footage (perceptual hash of "
                                          "frames at 4 fps)"),
                       ("overlap", "of one movie whose time spans overlap")):
        links = [link for link in leakage.links if link.kind == kind]
        if links:
            lines.append(f"leakage: {len(links)} pair(s) of clips {what}: {_pairs(links)}")
    if leakage.links:
        split = plan.split_links()
        if plan.allow_leakage:
            lines.append(f"leakage: --allow-leakage: {len(split)} of these pair(s) lie in "
                         "different folds")
        else:
            lines.append("leakage: linked clips are kept in one fold (--allow-leakage splits "
                         "them)")
    by_reason: dict[str, list[int]] = {}
    for clip_id, reason in sorted(leakage.not_hashed.items()):
        by_reason.setdefault(reason, []).append(clip_id)
    for reason, ids in by_reason.items():
        shown = ", ".join(str(c) for c in ids[:SHOWN_IDS])
        more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
        lines.append(f"leakage: {len(ids)} clip(s) not checked for near-duplicates, "
                     f"{reason}: {shown}{more}")
    return lines
