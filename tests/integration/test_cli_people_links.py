"""Login links that expire and end sessions (issue 14): `people add/link --expires-in`,
`[server] link_expiry_days`, and what deactivation and a new link do to open sessions."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from dfew_build.db.models import LoginSession, Person, utcnow
from dfew_build.logins import aware, open_session
from dfew_build.people import person_for_token


def _person(workspace, name):
    with workspace.session() as session:
        return session.scalar(select(Person).where(Person.name == name))


def test_links_expire_when_asked(cli, workspace):
    result = cli("-w", workspace.root, "people", "add", "Ann", "--role", "annotator",
                 "--expires-in", "2", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    expires = aware(_person(workspace, "Ann").token_expires_at)
    assert timedelta(days=1.99) < expires - utcnow() < timedelta(days=2.01)
    assert shown["link_expires_at"] is not None
    with workspace.session() as session:
        assert person_for_token(session, shown["token"]) is not None
        session.get(Person, shown["id"]).token_expires_at = utcnow() - timedelta(seconds=1)
    with workspace.session() as session:
        assert person_for_token(session, shown["token"]) is None
    # A new link without --expires-in follows dfew.toml (0: no expiry).
    assert cli("-w", workspace.root, "people", "link", "Ann").exit_code == 0
    assert _person(workspace, "Ann").token_expires_at is None
    config = workspace.config_path.read_text().replace("link_expiry_days = 0",
                                                       "link_expiry_days = 7")
    workspace.config_path.write_text(config)
    assert cli("-w", workspace.root, "people", "link", "--all").exit_code == 0
    expires = aware(_person(workspace, "Ann").token_expires_at)
    assert timedelta(days=6.99) < expires - utcnow() < timedelta(days=7.01)
    bad = cli("-w", workspace.root, "people", "link", "Ann", "--expires-in", "-1")
    assert bad.exit_code == 2 and "-1" in bad.output


def test_deactivate_and_link_revoke_open_sessions(cli, workspace):
    cli("-w", workspace.root, "people", "add", "Ann", "--role", "annotator")
    with workspace.session() as session:
        person = session.scalar(select(Person))
        for _ in range(2):
            open_session(session, person, 3600)
    assert cli("-w", workspace.root, "people", "link", "Ann").exit_code == 0
    with workspace.session() as session:
        assert all(session.scalars(select(LoginSession.revoked_at)))
        open_session(session, session.scalar(select(Person)), 3600)
    result = cli("-w", workspace.root, "people", "deactivate", "Ann")
    assert result.output.startswith("deactivated 'Ann' (their link and sessions no longer "
                                    "work)")
    with workspace.session() as session:
        assert all(session.scalars(select(LoginSession.revoked_at)))
    assert _person(workspace, "Ann").token_hash is None
    result = cli("-w", workspace.root, "people", "activate", "Ann")
    assert "issue a login link with: dfew-build people link Ann" in result.output
    assert _person(workspace, "Ann").token_hash is None  # the old link stays dead
