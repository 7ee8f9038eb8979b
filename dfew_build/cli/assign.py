"""`dfew-build assign`."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, pass_state


@click.command()
@click.option("--per-clip", type=click.IntRange(1, 1000), metavar="N",
              help="Counted annotators per clip (default: [annotation] raters_per_clip in "
                   "dfew.toml, 10 as in DFEW).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed for breaking ties; the same seed and database give the same result.")
@click.option("--require-faces/--no-require-faces", default=None,
              help="Only clips whose preprocessing kept a face (dfew-build preprocess); "
                   "unvoted assignments of other clips are released. Default: [annotation] "
                   "require_faces in dfew.toml, else off.")
@click.option("--order", "order_kind", type=click.Choice(["random", "id"]), default=None,
              help="The order each annotator sees their clips in: random (a fixed order of "
                   "their own, so order effects average out over a clip's votes) or id "
                   "(ascending clip id, the same for everyone). Recorded as [annotation] "
                   "order in dfew.toml, which the server reads. Default: as dfew.toml says "
                   "(random).")
@click.option("--order-seed", type=int, default=None, metavar="N",
              help="Seed of the random order, recorded as [annotation] order_seed; a new "
                   "seed draws new orders for everyone.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_state
def assign(state, per_clip, seed, require_faces, order_kind, order_seed, as_json) -> None:
    """Give every cut, accepted clip N counted annotators (distinct, active, not excluded).

    Loads are balanced (assignments per annotator differ by at most one where the pool
    allows). Re-running adds only what is missing. Unvoted assignments of deactivated or
    excluded annotators go to others; a clip someone voted on stays theirs, and a clip
    whose votes by an excluded annotator no longer count gets a replacement. Retired
    clips are left out. Fails, writing nothing, when a clip cannot get N distinct active
    annotators. Each annotator sees their clips in their own random order; --order id
    (or [annotation] order = "id" in dfew.toml) shows ascending clip ids to everyone.
    Gold (check) clips are not topped up; with [annotation] gold_rate > 0 each annotator
    gets gold clips making up that share of their queue (docs/annotation.md, "Gold clips").
    """
    from dfew_build.annotation.assign import assign_clips, queue_order

    workspace = state.workspace()
    n = per_clip or workspace.config["annotation"]["raters_per_clip"]
    order = queue_order(workspace.config)
    changed = False
    if order_kind is not None or order_seed is not None:
        from dfew_build.annotation.order_setting import record_queue_order

        order, changed = record_queue_order(workspace.config_path, order_kind, order_seed,
                                            order)
    if require_faces is None:
        require_faces = bool(workspace.config["annotation"].get("require_faces", False))
    with workspace.session() as session:
        annotation = workspace.config["annotation"]
        report = assign_clips(session, n, seed=seed, require_faces=require_faces,
                              commit_every=5000,
                              gold_rate=float(annotation.get("gold_rate", 0) or 0),
                              practice_clips=int(annotation.get("practice_clips", 0) or 0),
                              practice_seed=order.seed)
    summary = report.as_dict()
    if as_json:
        echo_json({**summary, "queue_order": order.kind, "queue_seed": order.seed,
                   "queue_order_changed": changed})
        return
    if changed:
        click.echo(f"queue order: {order.describe()}, recorded in {workspace.config_path} "
                   "[annotation]; a running dfew-build serve uses it once restarted")
    faces = ""
    if require_faces:
        faces = (f"; left out by --require-faces: {report.not_preprocessed} clip(s) not "
                 f"preprocessed, {report.no_face} without a kept face")
        if report.released_no_face:
            faces += f" ({report.released_no_face} unvoted assignment(s) released)"
    if not report.clips:
        click.echo("no clips to assign yet: clips are assignable once cut "
                   "(dfew-build clips cut) and accepted"
                   + (" and preprocessing kept a face (dfew-build preprocess)"
                      if require_faces else "") + faces)
        return
    released = f", {report.released} released from deactivated or excluded annotators" \
        if report.released else ""
    loads = list(report.loads.values()) or [0]
    gold = (f"; {report.gold_added} gold-check assignment(s) added at gold_rate "
            f"{report.gold_rate:g}" if report.gold_rate else "")
    click.echo(f"{report.added} assignment(s) added{released}; {report.clips} clip(s) with "
               f"{n} annotators each; {len(report.loads)} annotators, "
               f"{min(loads)}-{max(loads)} clips each{faces}{gold}")
