"""`dfew-build clips gold`: mark clips with known answers (gold check clips), list, unmark."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, format_table, pass_state


def _show(outcome, verb: str, as_json: bool) -> None:
    if as_json:
        echo_json(outcome.as_dict())
    else:
        for where, reason in outcome.refused.items():
            if where.startswith("line "):
                text = f"{where}: {reason}"
            elif reason.startswith(("clip ", "no clip")):
                text = reason
            else:
                text = f"clip {where}: {reason}"
            click.echo(f"refused: {text}", err=True)
        click.echo(f"{verb} {len(outcome.done)}, unchanged {len(outcome.unchanged)}, "
                   f"refused {len(outcome.refused)}")
    if outcome.refused and not outcome.done and not outcome.unchanged:
        raise click.ClickException(f"no gold clip {verb}")


@click.command("gold")
@click.argument("ids", nargs=-1)
@click.option("--emotion", metavar="E", help="The known answer of IDS: a code 1..7 or a name "
              "(happy, sad, neutral, angry, surprise, disgust, fear).")
@click.option("--from", "from_csv", type=click.Path(dir_okay=False), metavar="CSV",
              help="Gold answers from a CSV file with columns clip_id,emotion (a votes file "
                   "works: other columns are ignored, the last row of a clip wins).")
@click.option("--remove", "remove", metavar="IDS",
              help="Unmark these gold clips (like `3,5,8-12`); their votes count again.")
@click.option("--list", "list_", is_flag=True, help="List the gold clips (also the default "
              "with no arguments).")
@click.option("--by", "set_by", metavar="NAME", default="admin", show_default=True,
              help="Who sets the answers (stored with them).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def gold(state, ids, emotion, from_csv, remove, list_, set_by, as_json) -> None:
    """Gold (check) clips: clips IDS (like `1-6,9`) whose answer is known.

    A gold clip's votes measure each annotator's gold accuracy (`dfew-build annotators`,
    the admin dashboard) and count nowhere else: not in kappa, alpha, labels, the
    single-label subset, Dawid-Skene, folds or exports, and `assign` does not top them up.
    With [annotation] gold_rate in dfew.toml, `assign` mixes them into every queue at that
    share; with [annotation] practice_clips = N, new annotators practise on N of them with
    feedback first. See docs/annotation.md, "Gold clips".
    """
    from dfew_build.annotation import gold as lib
    from dfew_build.cli.clips import _parse_ids

    chosen = sum(bool(x) for x in (ids, from_csv, remove))
    if chosen > 1:
        raise click.UsageError("give either IDS with --emotion, --from CSV or --remove IDS, "
                               "one at a time")
    if ids and not emotion:
        raise click.UsageError("IDS need the known answer: add --emotion E (a code 1..7 or a "
                               "name such as happy)")
    if emotion and not ids:
        raise click.UsageError("--emotion needs clip IDS, e.g. dfew-build clips gold 1-6 "
                               "--emotion happy")
    workspace = state.workspace()
    with workspace.session() as session:
        if ids:
            outcome = lib.set_gold_many(session, _parse_ids(ids), emotion, set_by)
        elif from_csv:
            outcome = lib.set_gold_from_csv(session, from_csv, set_by)
        elif remove:
            outcome = lib.remove_gold(session, _parse_ids((remove,)))
        else:
            rows = lib.list_gold(session)
            if as_json:
                echo_json({"gold_clips": rows})
            elif not rows:
                click.echo("no gold clips; mark some with: dfew-build clips gold IDS "
                           "--emotion E")
            else:
                click.echo(format_table(rows, ["clip_id", "emotion", "votes", "correct",
                                               "set_by", "set_at"]))
            return
        session.commit()
    _show(outcome, "removed" if remove else "set", as_json)
