"""`dfew-build people add|list|link|deactivate|activate`."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, format_table, pass_state

ROLES = ("annotator", "extractor", "admin")
_BASE_URL_HELP = ("Address people open, for the login link (default: [server] base_url in "
                  "dfew.toml, else http://HOST:PORT from [server] host/port).")


def _base_url(workspace, option: str | None) -> str:
    from dfew_build.people import configured_base_url

    return option.rstrip("/") if option else configured_base_url(workspace.config)


def _show_link(person, token: str, base_url: str, as_json: bool) -> None:
    from dfew_build.people import login_link, person_dict

    link = login_link(base_url, token)
    if as_json:
        echo_json({**person_dict(person), "login_link": link, "token": token})
        return
    click.echo(f"{person.role} {person.name!r}: login link (shown once; keep it private):")
    click.echo(f"  {link}")


@click.group()
def people() -> None:
    """Annotators, extractors and admins, and their login links.

    Login links hold a secret token that is shown once and never stored (only its hash
    is); `people link NAME` issues a new one and invalidates the old.
    """


@people.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What they do.")
@click.option("--base-url", metavar="URL", help=_BASE_URL_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (includes the token).")
@pass_state
def add(state, name, role, base_url, as_json) -> None:
    """Add a person and print their one-time login link."""
    from dfew_build.people import add_person

    workspace = state.workspace()
    with workspace.session() as session:
        person, token = add_person(session, name, role)
    _show_link(person, token, _base_url(workspace, base_url), as_json)
    if role == "annotator" and not as_json:
        click.echo("Give them clips with: dfew-build assign")


@people.command("link")
@click.argument("name")
@click.option("--base-url", metavar="URL", help=_BASE_URL_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (includes the token).")
@pass_state
def link(state, name, base_url, as_json) -> None:
    """Issue a new login link for NAME; their old link and sessions stop working."""
    from dfew_build.people import issue_token

    workspace = state.workspace()
    with workspace.session() as session:
        person, token = issue_token(session, name)
    _show_link(person, token, _base_url(workspace, base_url), as_json)


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
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no people yet; add one with: dfew-build people add NAME --role annotator")
        return
    for row in rows:
        row["active"] = "yes" if row["active"] else "no"
    click.echo(format_table(rows, ["name", "role", "active", "assigned", "voted"]))


@people.command("deactivate")
@click.argument("name")
@pass_state
def deactivate_(state, name) -> None:
    """Stop NAME from logging in; their unvoted clips go to other annotators.

    Their votes stay. If too few active annotators remain, the clips wait until
    annotators are added and `dfew-build assign` runs.
    """
    from dfew_build.annotation.assign import assign_clips, release_inactive
    from dfew_build.errors import AssignmentError
    from dfew_build.people import deactivate

    workspace = state.workspace()
    with workspace.session() as session:
        person = deactivate(session, name)
        released = release_inactive(session)
    click.echo(f"deactivated {person.name!r}; {released} unvoted assignment(s) released")
    if not released:
        return
    try:
        with workspace.session() as session:
            report = assign_clips(session, workspace.config["annotation"]["raters_per_clip"])
        click.echo(f"reassigned {report.added} to other annotators")
    except AssignmentError as exc:
        click.echo(f"warning: not reassigned: {exc}", err=True)


@people.command("activate")
@click.argument("name")
@pass_state
def activate_(state, name) -> None:
    """Let a deactivated person log in again (with a new link from `people link`)."""
    from dfew_build.people import activate

    with state.workspace().session() as session:
        person = activate(session, name)
    click.echo(f"activated {person.name!r}; issue a login link with: "
               f"dfew-build people link {person.name!r}")
