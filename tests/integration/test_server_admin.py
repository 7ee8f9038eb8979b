"""The admin page: progress, problem reports, votes CSV export, agreement."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from dfew_build.db.models import Assignment, Person, ProblemReport
from tests.annotation_data import make_client, page_csrf, site_on
from tests.databases import backends


@pytest.fixture(params=backends())
def site(request, tmp_path):
    with site_on(request.param, tmp_path, annotators=3, clips=4, per_clip=2) as site:
        yield site


def _vote_everything(site, emotion_of):
    """Each annotator votes on all their clips through the web form."""
    with site.workspace.session() as s:
        pairs = s.execute(select(Assignment.clip_id, Person.name)
                          .join(Person, Person.id == Assignment.annotator_id)).all()
    clients = {}
    for clip_id, name in pairs:
        if name not in clients:
            clients[name] = (make_client(site, name), None)
            clients[name] = (clients[name][0], page_csrf(clients[name][0], "/annotate"))
        client, token = clients[name]
        response = client.post(f"/annotate/clip/{clip_id}/vote",
                               data={"emotion": str(emotion_of(clip_id, name)),
                                     "csrf_token": token})
        assert response.status_code == 303
    return pairs


def test_progress_per_annotator_and_clip(site):
    client = make_client(site, "ann1")
    token = page_csrf(client, "/annotate")
    with site.workspace.session() as s:
        first = s.scalar(select(Assignment.clip_id).where(
            Assignment.annotator_id == site.ids["ann1"]).order_by(Assignment.clip_id))
    client.post(f"/annotate/clip/{first}/vote", data={"emotion": "1", "csrf_token": token})
    admin = make_client(site, "admin1")
    page = admin.get("/admin")
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "1 vote(s) on 8 assignment(s) over 4 clip(s)" in text
    assigned = {"ann1": 0, "ann2": 0, "ann3": 0}
    with site.workspace.session() as s:
        for (annotator_id,) in s.execute(select(Assignment.annotator_id)):
            name = next(n for n, i in site.ids.items() if i == annotator_id)
            assigned[name] += 1
    voted = {"ann1": 1, "ann2": 0, "ann3": 0}
    for name in assigned:
        row = (f"<tr><td>{name}</td><td>yes</td><td>{assigned[name]}</td> <td>{voted[name]}</td>"
               f"<td>{assigned[name] - voted[name]}</td><td>0</td> "
               f'<td class="gold" data-gold-votes="0">—</td></tr>')
        assert row in text
    clips = " ".join(admin.get("/admin/clips").text.split())
    assert f'<td><a href="/media/clip/{first}">{first}</a></td><td>1.50 s</td> ' \
           f'<td>2</td><td>1</td><td>0</td></tr>' in clips
    incomplete = admin.get("/admin/clips?incomplete=true").text
    assert "4 clip(s) still missing votes" in " ".join(incomplete.split())


def test_problem_reports_listed_and_resolved(site):
    client = make_client(site, "ann2")
    token = page_csrf(client, "/annotate")
    with site.workspace.session() as s:
        clip_id = s.scalar(select(Assignment.clip_id).where(
            Assignment.annotator_id == site.ids["ann2"]).order_by(Assignment.clip_id))
    client.post(f"/annotate/clip/{clip_id}/problem",
                data={"kind": "broken_video", "note": "stops after 1 s", "csrf_token": token})
    assert f'data-clip="{clip_id}"' not in client.get("/annotate").text
    admin = make_client(site, "admin1")
    text = " ".join(admin.get("/admin").text.split())
    assert "Video broken or does not play</td> <td>stops after 1 s</td><td>ann2</td>" in text
    with site.workspace.session() as s:
        report_id = s.scalar(select(ProblemReport.id))
    token = page_csrf(admin, "/admin")
    response = admin.post(f"/admin/problems/{report_id}/resolve", data={"csrf_token": token})
    assert response.status_code == 303
    assert "No open problem reports." in admin.get("/admin").text
    assert f'data-clip="{clip_id}"' in client.get("/annotate").text  # back in the queue
    assert admin.post("/admin/problems/999/resolve",
                      data={"csrf_token": token}).status_code == 404


def test_votes_csv_export(site):
    pairs = _vote_everything(site, lambda clip_id, name: 1 + (clip_id % 7))
    response = make_client(site, "admin1").get("/admin/votes.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="votes.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["clip_id", "annotator", "emotion"]
    assert sorted(rows[1:]) == sorted([str(c), n, str(1 + c % 7)] for c, n in pairs)
    assert make_client(site, "ann1").get("/admin/votes.csv").status_code == 403


def test_agreement_summary(site):
    admin = make_client(site, "admin1")
    text = " ".join(admin.get("/admin").text.split())
    assert 'id="agreement">Agreement: not available — there are no votes yet' in text
    # Every clip gets its 2 votes; with raters_per_clip = 2 kappa can be measured.
    _vote_everything(site, lambda clip_id, name: 1 if clip_id % 2 else 4)
    site.workspace.config["annotation"]["raters_per_clip"] = 2
    text = " ".join(make_client(site, "admin1").get("/admin").text.split())
    assert "<tr><td>all</td><td>4</td> <td>1.000</td> <td>almost perfect</td>" in text
    # DFEW's single-label rule (more than 6 votes) cannot hold with 2 raters: said, not hidden.
    assert "<tr><td>single</td><td>0</td> <td>–</td> <td></td><td>--threshold 6 leaves no " \
           "clip single-labelled" in text
