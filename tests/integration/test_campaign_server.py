"""The campaign in the web form (TestClient on the real app, SQLite and PostgreSQL): each
annotator's own stable queue order, retiring and restoring a clip from the admin page next
to its problem reports, and what an excluded annotator sees."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from annotation_server.annotating import queue
from dfew_build.annotation.assign import QueueOrder, queue_key, queue_order
from dfew_build.db.models import Clip, ProblemReport, Vote
from dfew_build.people import exclude
from tests.annotation_data import make_client, page_csrf, site_on
from tests.databases import backends


@pytest.fixture(params=backends())
def site(request, tmp_path):
    # Every annotator holds all 12 clips, so their orders can be compared clip for clip.
    with site_on(request.param, tmp_path, annotators=3, clips=12, per_clip=3) as site:
        yield site


def _shown(client) -> int:
    page = client.get("/annotate")
    assert page.status_code == 200, page.text[:300]
    return int(re.search(r'video id="clip-video" src="/media/clip/(\d+)"', page.text).group(1))


def _queue(site, name, order=None):
    with site.workspace.session() as s:
        return queue(s, site.ids[name], order or queue_order(site.workspace.config))


def _vote(client, clip_id, token, emotion=1):
    return client.post(f"/annotate/clip/{clip_id}/vote",
                       data={"emotion": str(emotion), "csrf_token": token})


def test_each_annotator_has_an_own_order_stable_on_reload(site):
    orders = {name: _queue(site, name) for name in ("ann1", "ann2", "ann3")}
    assert all(sorted(o) == site.clip_ids for o in orders.values())
    assert len({tuple(o) for o in orders.values()}) == 3  # three different orders
    assert all(o != site.clip_ids for o in orders.values())  # none is ascending
    # The order is a pure function of (seed, annotator, clip).
    assert orders["ann1"] == sorted(site.clip_ids,
                                    key=lambda c: queue_key(0, site.ids["ann1"], c))
    for name, order in orders.items():
        client = make_client(site, name)
        assert _shown(client) == _shown(client) == order[0]  # a reload shows the same clip
        assert _shown(make_client(site, name)) == order[0]   # so does a new session
    client = make_client(site, "ann2")
    token = page_csrf(client, "/annotate")
    seen = []
    for _ in range(3):
        clip_id = _shown(client)
        seen.append(clip_id)
        assert _vote(client, clip_id, token).status_code == 303
    assert seen == orders["ann2"][:3] and _shown(client) == orders["ann2"][3]


def test_another_seed_and_the_id_order(site):
    first = _queue(site, "ann1")
    site.workspace.config["annotation"]["order_seed"] = 7
    assert _queue(site, "ann1") != first
    assert _shown(make_client(site, "ann1")) == _queue(site, "ann1")[0]
    site.workspace.config["annotation"]["order"] = "id"
    assert _queue(site, "ann1") == site.clip_ids
    assert _shown(make_client(site, "ann3")) == site.clip_ids[0]
    site.workspace.config["annotation"]["order"] = "sideways"
    page = make_client(site, "ann1").get("/annotate")
    assert page.status_code == 500
    assert "The server is misconfigured: dfew.toml: annotation.order = &#39;sideways&#39;" \
        in page.text


def test_retire_from_the_problem_reports_and_restore(site):
    annotator = make_client(site, "ann1")
    token = page_csrf(annotator, "/annotate")
    target = _queue(site, "ann1")[1]
    voted = _queue(site, "ann1")[0]
    assert _vote(annotator, voted, token, 4).status_code == 303
    annotator.post(f"/annotate/clip/{target}/problem",
                   data={"kind": "no_face", "note": "back of a head", "csrf_token": token})
    admin = make_client(site, "admin1")
    page = admin.get("/admin")
    text = " ".join(page.text.split())
    assert f'action="/admin/clips/{target}/retire"' in text
    assert 'value="no face visible (1 open report(s))"' in text
    assert "No retired clips" in text
    assert "style=" not in page.text and "<script>" not in page.text  # strict CSP holds
    csrf = page_csrf(admin, "/admin")
    # No CSRF token, an empty reason, an unknown clip, an annotator: refused.
    assert admin.post(f"/admin/clips/{target}/retire", data={"reason": "x"}).status_code == 403
    response = admin.post(f"/admin/clips/{target}/retire",
                          data={"reason": "  ", "csrf_token": csrf})
    assert response.status_code == 303
    assert (f"Clip {target} not retired: give a reason (e.g. no face visible)."
            in admin.get("/admin").text)
    assert admin.post("/admin/clips/999/retire",
                      data={"reason": "x", "csrf_token": csrf}).status_code == 404
    assert annotator.post(f"/admin/clips/{target}/retire",
                          data={"reason": "x", "csrf_token": token}).status_code == 403
    for clip_id in (target, voted):  # each POST redirects to the page that shows its flash
        response = admin.post(f"/admin/clips/{clip_id}/retire",
                              data={"reason": "no face visible", "csrf_token": csrf})
        assert response.status_code == 303 and response.headers["location"] == "/admin"
        page = " ".join(admin.get("/admin").text.split())
    assert (f"Clip {voted} retired: it left every queue and its votes count nowhere (they "
            "stay stored; restore it to count them again).") in page
    assert "2 retired clip(s), 0 excluded annotator(s)" in page
    assert "clip retired: no face visible" in page  # in the problem report's row
    assert (f'<tr data-clip="{voted}"><td><a href="/media/clip/{voted}">{voted}</a></td>'
            f'<td>no face visible</td>') in page
    assert f'action="/admin/clips/{voted}/restore"' in page
    clips_page = " ".join(admin.get("/admin/clips").text.split())
    assert f"{target}</a> <span class=\"muted\">retired: no face visible</span>" in clips_page
    with site.workspace.session() as s:
        assert s.get(Clip, target).retired_reason == "no face visible"
        assert s.scalar(select(Vote.emotion).where(Vote.clip_id == voted)) == 4  # kept
        assert s.scalar(select(ProblemReport.resolved_at)) is None
    # Out of every queue; its page and a vote are refused with the reason.
    for name in ("ann1", "ann2", "ann3"):
        assert target not in _queue(site, name) and voted not in _queue(site, name)
    assert _shown(annotator) == _queue(site, "ann1")[0]
    response = _vote(annotator, target, token)
    assert response.status_code == 403
    assert f"Clip {target} has been taken out of the campaign; it needs no vote." in \
        response.text
    assert annotator.get(f"/annotate/clip/{voted}").status_code == 403
    video = annotator.get(f"/media/clip/{target}")  # nor its video, except for admins
    assert video.status_code == 404 and "was retired" in video.text
    assert admin.get(f"/media/clip/{target}").status_code != 404 or "missing" in \
        admin.get(f"/media/clip/{target}").text
    history = annotator.get("/annotate/history").text
    assert "clip retired" in history and f'href="/annotate/clip/{voted}"' not in history
    progress = annotator.get("/annotate").text
    assert '<span id="progress-total">10' in progress  # 12 clips, 2 retired
    # Restore: back in the queues, the vote counts again.
    response = admin.post(f"/admin/clips/{voted}/restore", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert f"Clip {voted} restored" in admin.get("/admin").text
    assert f'href="/annotate/clip/{voted}"' in annotator.get("/annotate/history").text
    assert voted not in _queue(site, "ann1")  # ann1 voted on it already
    assert voted in _queue(site, "ann2")
    response = admin.post(f"/admin/clips/{voted}/restore", data={"csrf_token": csrf})
    assert f"Clip {voted} is not retired." in admin.get("/admin").text


def test_retiring_a_candidate_from_the_admin_page_says_why(site):
    with site.workspace.session() as s:
        clip = Clip(movie_id=site.movie_id, start_s=50, end_s=51, duration_s=1,
                    status="candidate", source="proposed")
        s.add(clip)
        s.flush()
        clip_id = clip.id
    admin = make_client(site, "admin1")
    csrf = page_csrf(admin, "/admin")
    admin.post(f"/admin/clips/{clip_id}/retire", data={"reason": "x", "csrf_token": csrf})
    assert (f"Clip {clip_id} not retired: clip {clip_id} is a candidate, not an accepted clip; "
            f"reject candidates with: dfew-build clips reject {clip_id}") in \
        admin.get("/admin").text


def test_an_excluded_annotator_has_an_empty_queue_and_casts_no_vote(site):
    client = make_client(site, "ann3")
    token = page_csrf(client, "/annotate")
    voted = _shown(client)
    assert _vote(client, voted, token, 2).status_code == 303
    with site.workspace.session() as s:
        exclude(s, "ann3", "says sad for neutral")
    page = client.get("/annotate")  # still logged in
    assert page.status_code == 200 and "No clips for you" in page.text
    assert 'id="excluded"' in page.text and "clip-video" not in page.text
    assert _queue(site, "ann3") == [] == _queue(site, "ann3", QueueOrder("id"))
    response = _vote(client, voted, token, 5)
    assert response.status_code == 403 and "Your annotation on this campaign has ended" in \
        response.text
    history = client.get("/annotate/history").text
    assert ">sad<" in history and f'href="/annotate/clip/{voted}"' not in history
    with site.workspace.session() as s:
        assert s.scalar(select(Vote.emotion).where(Vote.annotator_id == site.ids["ann3"])) == 2
    admin = " ".join(make_client(site, "admin1").get("/admin").text.split())
    assert "excluded: says sad for neutral" in admin
    assert "0 retired clip(s), 1 excluded annotator(s)" in admin
