"""Server-side sessions (issue 14 item 3): logout, deactivation and a new link end every
session and link for good; links may expire; opening someone else's link asks first; flash
messages live in the database, not the cookie; Secure cookies and HSTS over HTTPS. SQLite
and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from dfew_build.db.models import LoginSession, Person, utcnow
from dfew_build.people import activate, deactivate, issue_token
from tests.annotation_data import make_client, page_csrf, site_on
from tests.databases import backends


@pytest.fixture(params=backends())
def site(request, tmp_path):
    with site_on(request.param, tmp_path, annotators=3, clips=4, per_clip=2) as site:
        yield site


def _cookie(client) -> str:
    return client.cookies.get("dfew_session")


def _replay(site, cookie: str):
    """A fresh browser presenting an old session cookie."""
    client = make_client(site)
    client.cookies.set("dfew_session", cookie)
    return client


def _first_clip(client) -> int:
    return int(re.search(r'data-clip="(\d+)"', client.get("/annotate").text).group(1))


def test_the_cookie_holds_a_random_token_and_the_database_its_hash(site):
    client = make_client(site, "ann1")
    cookie = _cookie(client)
    assert len(cookie) >= 40 and "ann1" not in cookie
    with site.workspace.session() as s:
        rows = s.scalars(select(LoginSession)).all()
    assert len(rows) == 1 and rows[0].person_id == site.ids["ann1"]
    assert rows[0].token_hash != cookie and len(rows[0].token_hash) == 64
    assert rows[0].revoked_at is None


def test_logout_ends_the_session_for_a_replayed_cookie_too(site):
    client = make_client(site, "ann1")
    cookie, token = _cookie(client), page_csrf(client, "/annotate")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert "dfew_session=;" in response.headers["set-cookie"]  # deleted in the browser
    replayed = _replay(site, cookie)
    assert replayed.get("/annotate").headers["location"] == "/login"
    # A POST with the old cookie and its CSRF token is refused before its body is read.
    response = replayed.post(f"/annotate/clip/{site.clip_ids[0]}/vote",
                             data={"emotion": "1", "csrf_token": token})
    assert response.status_code == 401 and "Your session has ended" in response.text


def test_deactivate_then_activate_revives_neither_link_nor_session(site):
    client = make_client(site, "ann2")
    cookie = _cookie(client)
    with site.workspace.session() as s:
        deactivate(s, "ann2")
    assert _replay(site, cookie).get("/annotate").headers["location"] == "/login"
    with site.workspace.session() as s:
        activate(s, "ann2")
        assert s.scalar(select(Person.token_hash).where(Person.name == "ann2")) is None
    assert _replay(site, cookie).get("/annotate").headers["location"] == "/login"
    assert make_client(site).get(f"/login/{site.tokens['ann2']}").status_code == 403
    with site.workspace.session() as s:  # a new link lets them in again
        _, token = issue_token(s, "ann2")
    fresh = make_client(site)
    assert fresh.get(f"/login/{token}").headers["location"] == "/annotate"


def test_a_new_link_revokes_every_session_of_the_person(site):
    browsers = [make_client(site, "ann1") for _ in range(3)]
    other = make_client(site, "ann3")
    with site.workspace.session() as s:
        issue_token(s, "ann1")
        revoked = s.scalars(select(LoginSession.revoked_at)
                            .where(LoginSession.person_id == site.ids["ann1"])).all()
    assert len(revoked) == 3 and all(revoked)
    for browser in browsers:
        assert browser.get("/annotate").headers["location"] == "/login"
    assert other.get("/annotate").status_code == 200  # nobody else is logged out


def test_links_can_expire(site):
    with site.workspace.session() as s:
        _, token = issue_token(s, "ann1", expires_in_days=1)
        s.execute(Person.__table__.update().where(Person.id == site.ids["ann1"])
                  .values(token_expires_at=utcnow() - timedelta(minutes=1)))
    response = make_client(site).get(f"/login/{token}")
    assert response.status_code == 403 and "has expired" in response.text
    with site.workspace.session() as s:
        _, token = issue_token(s, "ann1", expires_in_days=1)
    assert make_client(site).get(f"/login/{token}").status_code == 303


def test_a_session_ends_at_its_expiry(site):
    client = make_client(site, "ann1")
    with site.workspace.session() as s:
        s.execute(LoginSession.__table__.update().values(expires_at=utcnow()
                                                         - timedelta(seconds=1)))
    assert client.get("/annotate").headers["location"] == "/login"


def test_someone_elses_link_asks_before_switching(site):
    client = make_client(site, "ann1")
    first = _cookie(client)
    page = client.get(f"/login/{site.tokens['ann2']}")
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "You are logged in as <strong>ann1</strong> (annotator)." in text
    assert 'id="switch-to">ann2</strong>' in text
    assert _cookie(client) == first  # nothing switched yet
    with site.workspace.session() as s:
        assert s.scalar(select(LoginSession.revoked_at)) is None
    # An attacker's page cannot switch the session: the POST needs this session's token.
    assert client.post("/login", data={"token": site.tokens["ann2"]}).status_code == 403
    response = client.post("/login", data={"token": site.tokens["ann2"],
                                           "csrf_token": page_csrf(client, "/annotate")})
    assert response.status_code == 303
    assert "logged in as annotator 'ann2'" not in client.get("/annotate").text
    assert "ann2 (annotator)" in client.get("/annotate").text
    assert _replay(site, first).get("/annotate").headers["location"] == "/login"
    # One's own link again: straight to one's page, no question.
    assert client.get(f"/login/{site.tokens['ann2']}").headers["location"] == "/annotate"


def test_flash_messages_stay_in_the_database_not_the_cookie(site):
    client = make_client(site, "ann1")
    token = page_csrf(client, "/annotate")
    clip = _first_clip(client)
    for emotion in (1, 2, 3):  # two revisions: two messages
        client.post(f"/annotate/clip/{clip}/vote",
                    data={"emotion": str(emotion), "csrf_token": token})
    assert len(_cookie(client)) < 100
    with site.workspace.session() as s:
        assert "your vote is now" in s.scalar(select(LoginSession.flashes))
    page = client.get("/annotate").text
    assert "your vote is now sad" in page and "your vote is now neutral" in page
    assert "your vote is now" not in client.get("/annotate").text  # shown once


def test_https_base_url_gives_secure_cookies_and_hsts(site):
    site.workspace.config["server"]["base_url"] = "https://annotate.example.org"
    client = make_client(site)
    client.base_url = "https://testserver"
    response = client.get(f"/login/{site.tokens['ann1']}")
    cookie = response.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    site.workspace.config["server"]["base_url"] = ""
    plain = make_client(site)
    response = plain.get(f"/login/{site.tokens['ann1']}")
    assert "Secure" not in response.headers["set-cookie"]
    assert "strict-transport-security" not in response.headers
