"""The annotator page through the real app (TestClient), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select

from dfew_build.db.models import Assignment, ProblemReport, Vote
from tests.annotation_data import make_client, page_csrf, site_on
from tests.databases import backends


@pytest.fixture(params=backends())
def site(request, tmp_path):
    with site_on(request.param, tmp_path, annotators=3, clips=4, per_clip=2) as site:
        yield site


def _assigned(site, name):
    """The annotator's clips in the order their page shows them (the workspace's queue
    order: seeded random per annotator by default)."""
    from annotation_server.annotating import queue
    from dfew_build.annotation.assign import queue_order

    with site.workspace.session() as s:
        return queue(s, site.ids[name], queue_order(site.workspace.config))


def _votes(site, name=None):
    with site.workspace.session() as s:
        query = select(Vote.clip_id, Vote.emotion).order_by(Vote.clip_id)
        if name:
            query = query.where(Vote.annotator_id == site.ids[name])
        return s.execute(query).all()


def _clip_on_page(html):
    return int(re.search(r'data-clip="(\d+)"', html).group(1))


def _vote(client, clip_id, emotion, token, **extra):
    return client.post(f"/annotate/clip/{clip_id}/vote",
                       data={"emotion": str(emotion), "csrf_token": token, **extra})


def test_login_link_sets_a_safe_session_cookie(site):
    client = make_client(site)
    response = client.get(f"/login/{site.tokens['ann1']}")
    assert response.status_code == 303 and response.headers["location"] == "/annotate"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "dfew_session=" in cookie
    assert site.tokens["ann1"] not in response.headers["set-cookie"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert client.get("/").headers["location"] == "/annotate"


def test_bad_link_is_refused_and_pasting_the_token_works(site):
    client = make_client(site)
    response = client.get("/login/not-a-token")
    assert response.status_code == 403
    assert "This login link is not valid" in response.text
    assert client.get("/annotate").headers["location"] == "/login"
    token = page_csrf(client, "/login")
    response = client.post("/login", data={"token": site.tokens["admin1"], "csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/admin"


def test_next_clip_page_shows_own_progress_only(site):
    client = make_client(site, "ann1")
    assigned = _assigned(site, "ann1")
    page = client.get("/annotate")
    assert page.status_code == 200
    assert _clip_on_page(page.text) == assigned[0]
    assert f'<strong id="progress-done">0</strong> / <span id="progress-total">{len(assigned)}' \
        in page.text
    assert f'src="/media/clip/{assigned[0]}"' in page.text
    for key in range(1, 8):
        assert f'data-key="{key}"' in page.text
    # Nothing about the extractor's claim or anyone's votes reaches the annotator.
    assert "intended" not in page.text.lower() and "chosen" not in page.text


def test_vote_redirects_to_the_next_clip_and_counts(site):
    client = make_client(site, "ann1")
    assigned = _assigned(site, "ann1")
    token = page_csrf(client, "/annotate")
    response = _vote(client, assigned[0], 4, token)
    assert response.status_code == 303 and response.headers["location"] == "/annotate"
    assert _votes(site, "ann1") == [(assigned[0], 4)]
    page = client.get("/annotate")
    assert _clip_on_page(page.text) == assigned[1]
    assert '<strong id="progress-done">1</strong>' in page.text


def test_finishing_every_clip_shows_the_done_page(site):
    client = make_client(site, "ann1")
    token = page_csrf(client, "/annotate")
    for clip_id in _assigned(site, "ann1"):
        assert _vote(client, clip_id, 1, token).status_code == 303
    page = client.get("/annotate")
    assert "All done" in page.text


def test_double_submit_and_two_tabs_make_one_vote(site):
    client = make_client(site, "ann1")
    clip_id = _assigned(site, "ann1")[0]
    token = page_csrf(client, "/annotate")
    assert _vote(client, clip_id, 2, token).status_code == 303
    assert _vote(client, clip_id, 2, token).status_code == 303
    second_tab = make_client(site, "ann1")
    assert _vote(second_tab, clip_id, 5, page_csrf(second_tab, "/annotate/history")
                 ).status_code == 303
    assert _votes(site, "ann1") == [(clip_id, 5)]


def test_concurrent_submits_store_one_vote(site):
    clip_id = _assigned(site, "ann2")[0]
    clients = [make_client(site, "ann2") for _ in range(4)]
    tokens = [page_csrf(c, "/annotate") for c in clients]
    barrier = threading.Barrier(len(clients))
    codes = []

    def submit(client, token):
        barrier.wait()
        codes.append(_vote(client, clip_id, 3, token).status_code)

    threads = [threading.Thread(target=submit, args=pair) for pair in zip(clients, tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [303] * 4
    assert _votes(site, "ann2") == [(clip_id, 3)]


def test_revising_from_history(site):
    client = make_client(site, "ann1")
    clip_id = _assigned(site, "ann1")[0]
    token = page_csrf(client, "/annotate")
    _vote(client, clip_id, 1, token)
    history = client.get("/annotate/history")
    assert f'href="/annotate/clip/{clip_id}"' in history.text and ">happy<" in history.text
    page = client.get(f"/annotate/clip/{clip_id}")
    assert "Revise your vote" in page.text and 'value="1"' in page.text
    assert re.search(r'value="1"[^>]*\n?[^>]*class="emotion emotion-1 chosen"', page.text)
    response = _vote(client, clip_id, 6, token, return_to="history")
    assert response.headers["location"] == "/annotate/history"
    assert _votes(site, "ann1") == [(clip_id, 6)]
    history = client.get("/annotate/history")
    assert "your vote is now disgust" in history.text and ">disgust<" in history.text


def test_voting_on_an_unassigned_clip_is_forbidden(site):
    client = make_client(site, "ann1")
    others = sorted(set(site.clip_ids) - set(_assigned(site, "ann1")))
    assert others, "the site should leave some clips to other annotators"
    token = page_csrf(client, "/annotate")
    response = _vote(client, others[0], 3, token)
    assert response.status_code == 403
    assert "This clip is not assigned to you." in response.text
    assert client.get(f"/annotate/clip/{others[0]}").status_code == 403
    assert client.get(f"/media/clip/{others[0]}").status_code == 403
    assert _vote(client, 99999, 3, token).status_code == 403
    assert _votes(site) == []


def test_bad_emotion_is_rejected(site):
    client = make_client(site, "ann1")
    clip_id = _assigned(site, "ann1")[0]
    token = page_csrf(client, "/annotate")
    response = _vote(client, clip_id, 8, token)
    assert response.status_code == 422 and "Emotion 8 is not one of the seven" in response.text
    response = client.post(f"/annotate/clip/{clip_id}/vote",
                           data={"emotion": "happy", "csrf_token": token})
    assert response.status_code == 422 and "emotion" in response.text
    assert _votes(site) == []


@pytest.mark.parametrize("sent", [None, "forged"])
def test_posts_need_the_session_csrf_token(site, sent):
    client = make_client(site, "ann1")
    clip_id = _assigned(site, "ann1")[0]
    token = {} if sent is None else {"csrf_token": sent}
    response = client.post(f"/annotate/clip/{clip_id}/vote", data={"emotion": "3", **token})
    assert response.status_code == 403
    assert "This form has expired or did not come from this site" in response.text
    response = client.post(f"/annotate/clip/{clip_id}/problem",
                           data={"kind": "no_face", **token})
    assert response.status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    assert _votes(site) == []


def test_csrf_token_of_another_session_is_refused(site):
    client, other = make_client(site, "ann1"), make_client(site, "ann1")
    clip_id = _assigned(site, "ann1")[0]
    assert _vote(client, clip_id, 3, page_csrf(other, "/annotate")).status_code == 403


def test_problem_report_is_stored_but_not_a_vote(site):
    client = make_client(site, "ann1")
    first, second = _assigned(site, "ann1")[:2]
    token = page_csrf(client, "/annotate")
    for _ in range(2):  # a double click stores one report
        response = client.post(f"/annotate/clip/{first}/problem",
                               data={"kind": "several_faces", "note": "two people",
                                     "csrf_token": token})
        assert response.status_code == 303 and response.headers["location"] == "/annotate"
    with site.workspace.session() as s:
        reports = s.execute(select(ProblemReport.clip_id, ProblemReport.kind,
                                   ProblemReport.note)).all()
    assert reports == [(first, "several_faces", "two people")]
    assert _votes(site) == []
    page = client.get("/annotate")
    assert "Thank you: clip" in page.text
    assert _clip_on_page(page.text) == second  # the reported clip is skipped...
    history = client.get("/annotate/history")  # ...but can still be voted on
    assert f'href="/annotate/clip/{first}"' in history.text
    assert '<strong id="progress-done">0</strong>' in history.text
    bad = client.post(f"/annotate/clip/{first}/problem", data={"kind": "boring",
                                                               "csrf_token": token})
    assert bad.status_code == 422 and "Unknown problem &#39;boring&#39;" in bad.text


def test_roles_are_kept_apart(site):
    annotator, admin = make_client(site, "ann1"), make_client(site, "admin1")
    assert annotator.get("/admin").status_code == 403
    assert annotator.get("/extract").status_code == 403
    assert annotator.get(f"/media/movie/{site.movie_id}").status_code == 403
    response = admin.get("/annotate")
    assert response.status_code == 403 and "This page is for annotators" in response.text
    anonymous = make_client(site)
    for path in ("/annotate", "/annotate/history", "/admin", "/extract"):
        assert anonymous.get(path).headers["location"] == "/login"
    assert anonymous.get(f"/media/clip/{site.clip_ids[0]}").status_code == 303


def test_deactivation_and_new_link_end_sessions(site):
    from dfew_build.people import deactivate, issue_token

    client = make_client(site, "ann1")
    assert client.get("/annotate").status_code == 200
    with site.workspace.session() as s:
        issue_token(s, "ann1")
    assert client.get("/annotate").headers["location"] == "/login"
    assert client.get(f"/login/{site.tokens['ann1']}").status_code == 403  # the old link
    client = make_client(site, "ann2")
    with site.workspace.session() as s:
        deactivate(s, "ann2")
    assert client.get("/annotate").headers["location"] == "/login"
    assert make_client(site).get(f"/login/{site.tokens['ann2']}").status_code == 403


def test_logout(site):
    client = make_client(site, "ann1")
    token = page_csrf(client, "/annotate")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert client.get("/annotate").headers["location"] == "/login"


def test_vote_needs_an_assignment_in_the_database_too(site):
    """An assignment removed between page load and vote (e.g. a deactivation elsewhere)."""
    client = make_client(site, "ann3")
    clip_id = _assigned(site, "ann3")[0]
    token = page_csrf(client, "/annotate")
    with site.workspace.session() as s:
        s.execute(Assignment.__table__.delete().where(
            Assignment.clip_id == clip_id, Assignment.annotator_id == site.ids["ann3"]))
    assert _vote(client, clip_id, 3, token).status_code == 403
    with site.workspace.session() as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == 0
