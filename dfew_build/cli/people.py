"""`dfew-build people add|list|link|deactivate|activate|exclude|include`."""

from __future__ import annotations

import shlex

import click

from dfew_build.cli.base import echo_json, echo_listing, format_table, pass_state
from dfew_build.names import quoted

ROLES = ("annotator", "extractor", "admin")
_BASE_URL_HELP = ("Address people open, for the login link (default: [server] base_url in "
                  "dfew.toml, else http://HOST:PORT from [server] host/port).")
_EXPIRES_HELP = ("The link stops working after DAYS days (default: [server] link_expiry_days "
                 "in dfew.toml; 0 there: links do not expire).")
_CSV_HELP = ("Write name,role,link rows to FILE (created readable by you only) instead of "
             "printing the links.")


def _expiry(workspace, option):
    """--expires-in, else [server] link_expiry_days (0 or absent: no expiry)."""
    if option is not None:
        return option or None
    return workspace.config.get("server", {}).get("link_expiry_days") or None


def _base_url(workspace, option: str | None) -> str:
    from dfew_build.people import configured_base_url

    return option.rstrip("/") if option else configured_base_url(workspace.config)


def _show_link(person, token: str, base_url: str, as_json: bool) -> None:
    from dfew_build.people import login_link, person_dict

    link = login_link(base_url, token)
    if as_json:
        echo_json({**person_dict(person), "login_link": link, "token": token})
        return
    click.echo(f"{person.role} {quoted(person.name)}: login link (shown once; keep it private):")
    click.echo(f"  {link}")


def _open_links_file(path):
    """Open the links CSV before anything changes, so an unwritable path loses no token."""
    import os

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    return path, os.fdopen(fd, "w", encoding="utf-8", newline="")


def _link_rows(issued, base_url: str) -> list[dict]:
    from dfew_build.people import login_link, person_dict

    return [{**person_dict(person), "login_link": login_link(base_url, token), "token": token}
            for person, token in issued]


def _show_links(rows: list[dict], as_json: bool, handle, extra: dict) -> None:
    """The links as a table (name, role, link), JSON, or name,role,link CSV rows."""
    if handle is not None:
        import csv

        path, stream = handle
        with stream:
            writer = csv.writer(stream)
            writer.writerow(["name", "role", "link"])
            for row in rows:
                writer.writerow([row["name"], row["role"], row["login_link"]])
        click.echo(f"wrote {len(rows)} login link(s) to {path} (keep it private)")
        return
    if as_json:
        echo_json({"people": rows, **extra})
        return
    if rows:
        click.echo("login links (shown once; keep them private):")
        click.echo(format_table([{**r, "link": r["login_link"]} for r in rows],
                                ["name", "role", "link"]))


def _link_options(command):
    """The options of every command that issues login links (`people add`, `people link`),
    in this order in --help."""
    options = [
        click.option("--base-url", metavar="URL", help=_BASE_URL_HELP),
        click.option("--expires-in", "expires_in", type=click.FloatRange(0, 3650),
                     metavar="DAYS", help=_EXPIRES_HELP),
        click.option("--json", "as_json", is_flag=True,
                     help="Print JSON (includes the tokens)."),
        click.option("--csv", "csv_out", type=click.Path(dir_okay=False), metavar="FILE",
                     help=_CSV_HELP),
    ]
    for option in reversed(options):  # as if stacked above the command, first on top
        command = option(command)
    return command


def _link_setup(state, base_url, expires_in, csv_out):
    """(workspace, login base URL, expiry in days or None, open --csv file or None)."""
    workspace = state.workspace()
    url = _base_url(workspace, base_url)
    expiry = _expiry(workspace, expires_in)
    handle = _open_links_file(csv_out) if csv_out else None
    return workspace, url, expiry, handle


@click.group()
def people() -> None:
    """Annotators, extractors and admins, and their login links.

    Login links hold a secret token that is shown once and never stored (only its hash
    is); `people link NAME` issues a new one and invalidates the old. `deactivate` stops a
    person logging in (their votes still count); `exclude` makes an annotator's votes
    count nowhere and gives their clips to others. See docs/annotation.md.
    """


@people.command("add")
@click.argument("name", required=False)
@click.option("--role", type=click.Choice(ROLES), help="What they do (with --from: the role "
              "of rows whose role column is empty or missing).")
@click.option("--from", "from_csv", type=click.Path(dir_okay=False), metavar="CSV",
              help="Add everyone in a CSV file with columns name and role.")
@_link_options
@pass_state
def add(state, name, role, from_csv, base_url, expires_in, as_json, csv_out) -> None:
    """Add a person (NAME --role ROLE) or everyone in a CSV (--from people.csv) and print
    their one-time login links.

    \b
    With --from: one person per row, columns name and role (annotator, extractor or
    admin; other columns are ignored). Bad rows are reported by line and the rest are
    added; names that already exist are reported and left as they are (issue a new link
    with `people link NAME`). Exit status 1 when rows were refused and nobody was added.
    """
    if name and from_csv:
        raise click.UsageError("give a NAME or --from CSV, not both")
    if not name and not from_csv:
        raise click.UsageError("give a NAME (with --role), or --from people.csv to add "
                               "several people")
    if name and not role:
        raise click.UsageError("Missing option '--role' (annotator, extractor or admin)")
    workspace, url, expiry, handle = _link_setup(state, base_url, expires_in, csv_out)
    if name:
        from dfew_build.people import add_person

        with workspace.session() as session:
            person, token = add_person(session, name, role, expires_in_days=expiry)
        if handle is not None:
            _show_links(_link_rows([(person, token)], url), False, handle, {})
            return
        _show_link(person, token, url, as_json)
        if role == "annotator" and not as_json:
            click.echo("Give them clips with: dfew-build assign")
        return

    from dfew_build.people import add_people_from_csv

    with workspace.session() as session:
        report = add_people_from_csv(session, from_csv, default_role=role,
                                     expires_in_days=expiry)
        rows = _link_rows([(p, t) for _, p, t in report.added], url)
    summary = report.summary()
    if not as_json:
        for message in report.messages():
            click.echo(message, err=True)
    _show_links(rows, as_json, handle, {
        "summary": summary,
        "already_present": [{"line": line, "name": n, "role": r}
                            for line, n, r in report.existing],
        "refused": [{"line": line, "reason": why} for line, why in report.refused]})
    if not as_json:
        click.echo(f"added {summary['added']}, already present {summary['already_present']}, "
                   f"refused {summary['refused']}")
        if any(r["role"] == "annotator" for r in rows):
            click.echo("Give them clips with: dfew-build assign")
    if summary["refused"] and not summary["added"]:
        raise click.ClickException(f"{summary['refused']} of {summary['rows']} rows refused"
                                   + ("; see the reasons above" if not as_json else ""))


@people.command("link")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "everyone", is_flag=True,
              help="Every active person (of --role, when given).")
@click.option("--role", type=click.Choice(ROLES), help="With --all: only this role.")
@_link_options
@pass_state
def link(state, names, everyone, role, base_url, expires_in, as_json, csv_out) -> None:
    """Issue new login links for NAME... (or --all); their old links stop working and
    every session they have open ends. Deactivated people are skipped and reported."""
    from dfew_build.people import issue_token, issue_tokens

    if everyone and names:
        raise click.UsageError("give NAMEs or --all, not both")
    if not everyone and not names:
        raise click.UsageError("give a NAME, or --all for everyone")
    if role and not everyone:
        raise click.UsageError("--role goes with --all")
    workspace, url, expiry, handle = _link_setup(state, base_url, expires_in, csv_out)
    if len(names) == 1 and handle is None:
        with workspace.session() as session:
            person, token = issue_token(session, names[0], expires_in_days=expiry)
        _show_link(person, token, url, as_json)
        return
    with workspace.session() as session:
        issued, skipped = issue_tokens(session, None if everyone else names, role=role,
                                       expires_in_days=expiry)
        rows = _link_rows(issued, url)
    if not as_json:
        for _, why in skipped:
            click.echo(f"skipped: {why}", err=True)
    _show_links(rows, as_json, handle,
                {"skipped": [{"name": who, "reason": why} for who, why in skipped]})
    if not rows:
        raise click.ClickException("no login link issued" + (
            "; nobody has that role" if everyone and not skipped else ""))


@people.command("list")
@click.option("--role", type=click.Choice(ROLES), help="Only this role.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def list_(state, role, as_json) -> None:
    """List people with their role, state and assignment progress."""
    from dfew_build.annotation.progress import annotator_progress
    from dfew_build.people import list_people, person_dict

    with state.workspace().session() as session:
        progress = {row["annotator_id"]: row for row in annotator_progress(session)}
        rows = []
        for person in list_people(session, role=role):
            row = person_dict(person)
            done = progress.get(person.id)
            row["assigned"] = done["assigned"] if done else 0
            row["voted"] = done["voted"] if done else 0
            rows.append(row)
    if not echo_listing(rows, as_json, "no people yet; add one with: dfew-build people add "
                        "NAME --role annotator"):
        return
    for row in rows:
        row["active"] = "yes" if row["active"] else "no"
        row["excluded"] = row["excluded_reason"] if row["excluded"] else ""
    click.echo(format_table(rows, ["name", "role", "active", "assigned", "voted", "excluded"]))


def _top_up(workspace, clip_ids, verb: str) -> None:
    """Give the clips that lost a counted annotator a replacement (only those clips)."""
    from dfew_build.annotation.assign import assign_clips
    from dfew_build.errors import AssignmentError

    if not clip_ids:
        return
    try:
        annotation = workspace.config["annotation"]
        with workspace.session() as session:
            report = assign_clips(session, annotation["raters_per_clip"], only_clips=clip_ids,
                                  require_faces=bool(annotation.get("require_faces", False)))
        click.echo(f"{verb} {report.added} to other annotators"
                   + (f" ({report.topped_up} clip(s) topped up)" if verb != "reassigned"
                      else ""))
    except AssignmentError as exc:
        click.echo(f"warning: not reassigned: {exc}", err=True)


@people.command("deactivate")
@click.argument("name")
@pass_state
def deactivate_(state, name) -> None:
    """Stop NAME from logging in; their unvoted clips go to other annotators.

    Their login link becomes void and every session they have open ends at once (after
    `people activate`, they need a new link from `people link`).

    Their votes stay and keep counting (to make them count nowhere, use `people
    exclude`). If too few active annotators remain, the clips wait until annotators are
    added and `dfew-build assign` runs.
    """
    from dfew_build.annotation.assign import clips_of, release_inactive
    from dfew_build.people import deactivate

    workspace = state.workspace()
    with workspace.session() as session:
        person = deactivate(session, name)
        before = clips_of(session, person.id)
        released = release_inactive(session)
        affected = before - clips_of(session, person.id)
    click.echo(f"deactivated {quoted(person.name)} (their link and sessions no longer work); "
               f"{released} unvoted assignment(s) released")
    if released:
        _top_up(workspace, affected, "reassigned")


@people.command("exclude")
@click.argument("name")
@click.option("--reason", required=True, metavar="TEXT",
              help="Why (stored with the time), e.g. 'says sad for neutral'.")
@pass_state
def exclude_(state, name, reason) -> None:
    """Make annotator NAME's votes count nowhere and give their clips to others.

    Their votes stay stored, but agreement, labels, annotator quality, folds and exports
    leave them out. Their unvoted assignments are released, and every clip they were on
    is topped back up to [annotation] raters_per_clip counted annotators (as `assign`
    does). They get no new clips; they can still log in and see their history unless you
    also `people deactivate` them. `people include NAME` undoes it.
    """
    from dfew_build.annotation.assign import clips_of, release_inactive
    from dfew_build.people import exclude, vote_count

    workspace = state.workspace()
    with workspace.session() as session:
        person, changed = exclude(session, name, reason)
        affected = clips_of(session, person.id)
        released = release_inactive(session)
        votes = vote_count(session, person)
        since, why = person.excluded_at, person.excluded_reason
    if not changed:
        click.echo(f"{quoted(person.name)} is excluded already (since {since:%Y-%m-%d %H:%M}: "
                   f"{why})")
    else:
        click.echo(f"excluded {quoted(person.name)}: their {votes} vote(s) stay stored and count "
                   f"nowhere; {released} unvoted assignment(s) released")
    _top_up(workspace, affected, "assigned")


@people.command("include")
@click.argument("name")
@pass_state
def include_(state, name) -> None:
    """Undo `people exclude NAME`: their stored votes count again.

    The replacements `exclude` assigned stay, so clips they voted on may now have more
    than raters_per_clip counted votes (agreement and labels handle uneven counts).
    """
    from dfew_build.people import include, vote_count

    workspace = state.workspace()
    with workspace.session() as session:
        person, changed = include(session, name)
        votes = vote_count(session, person)
    if not changed:
        click.echo(f"{quoted(person.name)} is not excluded; nothing to do")
        return
    click.echo(f"included {quoted(person.name)}: their {votes} vote(s) count again; give them "
               "clips with: dfew-build assign")


@people.command("activate")
@click.argument("name")
@pass_state
def activate_(state, name) -> None:
    """Let a deactivated person log in again (with a new link from `people link`)."""
    from dfew_build.people import activate

    with state.workspace().session() as session:
        person = activate(session, name)
    click.echo(f"activated {quoted(person.name)}; issue a login link with: "
               f"dfew-build people link {shlex.quote(person.name)}")
