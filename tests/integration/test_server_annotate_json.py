"""The annotator page's fetch API: /annotate/upcoming.json and the vote answered in JSON.
Same auth rules as the pages: the person's own queue only, annotators only, CSRF on the
vote; favicon and guidelines as plain routes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dfew_build.db.models import Vote
from tests.annotation_data import make_client, page_csrf, site_on
from tests.databases import backends

JSON = {"Accept": "application/json"}


@pytest.fixture(params=backends())
def site(request, tmp_path):
    with site_on(request.param, tmp_path, annotators=3, clips=4, per_clip=2) as site:
        yield site


def _queue(site, name):
    from annotation_server.annotating import queue
    from dfew_build.annotation.assign import queue_order

    with site.workspace.session() as s:
        return queue(s, site.ids[name], queue_order(site.workspace.config))


def test_upcoming_is_the_own_queue_and_the_vote_answers_json(site):
    client = make_client(site, "ann1")
    order = _queue(site, "ann1")
    data = client.get("/annotate/upcoming.json").json()
    assert [c["id"] for c in data["upcoming"]] == order[:2]
    assert data["done"] == 0 and data["total"] == len(order)
    assert data["upcoming"][0]["video"] == f"/media/clip/{order[0]}"
    token = page_csrf(client, "/annotate")
    response = client.post(f"/annotate/clip/{order[0]}/vote", headers=JSON,
                           data={"emotion": "6", "csrf_token": token})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "created" and body["done"] == 1
    assert [c["id"] for c in body["upcoming"]] == order[1:3]
    with site.workspace.session() as s:
        assert s.scalar(select(Vote.emotion).where(Vote.clip_id == order[0],
                                                   Vote.annotator_id == site.ids["ann1"])) == 6
    # Never another annotator's clip: every listed clip is ann1's.
    others = set(site.clip_ids) - set(order)
    assert not others & {c["id"] for c in body["upcoming"]}


def test_fetch_vote_keeps_csrf_and_the_assignment_rules(site):
    client = make_client(site, "ann1")
    order = _queue(site, "ann1")
    response = client.post(f"/annotate/clip/{order[0]}/vote", headers=JSON,
                           data={"emotion": "6", "csrf_token": "forged"})
    assert response.status_code == 403 and "expired" in response.json()["error"]
    token = page_csrf(client, "/annotate")
    foreign = next(c for c in site.clip_ids if c not in order)
    response = client.post(f"/annotate/clip/{foreign}/vote", headers=JSON,
                           data={"emotion": "6", "csrf_token": token})
    assert response.status_code == 403 and "not assigned" in response.json()["error"]
    with site.workspace.session() as s:
        assert s.scalars(select(Vote)).all() == []


def test_upcoming_needs_an_annotator(site):
    assert make_client(site).get("/annotate/upcoming.json").status_code == 303  # to /login
    assert make_client(site, "extractor1").get("/annotate/upcoming.json",
                                               headers=JSON).status_code == 403


def test_favicon_and_guidelines(site):
    client = make_client(site, "ann1")
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    page = client.get("/guidelines")
    assert page.status_code == 200 and "Disgust" in page.text
    assert "dfew_guidelines_seen" in page.headers.get("set-cookie", "")


def test_clip_in_json_for_undo(site):
    """Undo asks for the previous clip in JSON: the person's own vote on it and progress;
    another annotator's clip is refused in JSON too."""
    client = make_client(site, "ann1")
    order = _queue(site, "ann1")
    unvoted = client.get(f"/annotate/clip/{order[0]}", headers=JSON)
    assert unvoted.status_code == 200 and unvoted.headers["cache-control"] == "no-store"
    assert unvoted.json() == {"clip": order[0], "duration_s": 1.5,
                              "video": f"/media/clip/{order[0]}", "current": None,
                              "current_name": None, "done": 0, "total": len(order)}
    token = page_csrf(client, "/annotate")
    client.post(f"/annotate/clip/{order[0]}/vote", headers=JSON,
                data={"emotion": "7", "csrf_token": token})
    voted = client.get(f"/annotate/clip/{order[0]}", headers=JSON).json()
    assert (voted["current"], voted["current_name"], voted["done"]) == (7, "fear", 1)
    # The page itself (no JSON asked for) is unchanged.
    assert "Revise your vote" in client.get(f"/annotate/clip/{order[0]}").text
    others = set(site.clip_ids) - set(order)
    assert others  # 8 assignments over 3 annotators: ann1 is not on every clip
    refused = client.get(f"/annotate/clip/{min(others)}", headers=JSON)
    assert refused.status_code == 403
    assert refused.json() == {"error": "This clip is not assigned to you."}
    missing = client.get("/annotate/clip/999", headers=JSON)
    assert missing.status_code == 403 and "error" in missing.json()
