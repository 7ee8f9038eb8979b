"""Gold clips on the annotation server (issue 15): the practice round with feedback before
real work (votes stored apart, counted nowhere), and gold accuracy on the admin page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from dfew_build.annotation.gold import set_gold
from dfew_build.db.models import Assignment, PracticeVote, Vote
from tests.annotation_data import csrf_of, make_client, page_csrf, site_on
from tests.databases import backends

ACTION = re.compile(r'action="/practice/clip/(\d+)/vote"')


@pytest.fixture(params=backends())
def site(request, tmp_path):
    with site_on(request.param, tmp_path, annotators=3, clips=6, per_clip=1) as site:
        with site.workspace.session() as s:
            # Two gold clips (answers: sad, fear); they keep their assignments.
            set_gold(s, site.clip_ids[4], "sad")
            set_gold(s, site.clip_ids[5], "fear")
        yield site


def _practice(site, n):
    site.workspace.config["annotation"]["practice_clips"] = n
    return site


def test_practice_round_with_feedback_before_real_work(site):
    _practice(site, 2)
    answers = {site.clip_ids[4]: 2, site.clip_ids[5]: 7}
    client = make_client(site, "ann1")
    first_look = client.get("/annotate")
    assert first_look.status_code == 303 and first_look.headers["location"] == "/practice"

    page = client.get("/practice")
    assert page.status_code == 200 and "Practice clip 1 of 2" in page.text
    first = int(ACTION.search(page.text).group(1))
    assert first in answers
    # The practice clip's video plays, assigned to them or not.
    assert client.get(f"/media/clip/{first}").status_code == 200
    token = csrf_of(page.text)
    no_csrf = client.post(f"/practice/clip/{first}/vote", data={"emotion": "1"})
    assert no_csrf.status_code == 403
    wrong = 1 if answers[first] != 1 else 3
    voted = client.post(f"/practice/clip/{first}/vote",
                        data={"emotion": str(wrong), "csrf_token": token})
    assert voted.status_code == 303 and voted.headers["location"] == f"/practice?after={first}"
    feedback = " ".join(client.get(voted.headers["location"]).text.split())
    known = {2: "sad", 7: "fear"}[answers[first]]
    assert "Not this time" in feedback
    assert f'the known answer is <strong id="practice-answer">{known}</strong>' in feedback
    assert "Practice clip 2 of 2" in feedback

    page = client.get("/practice")
    second = int(ACTION.search(page.text).group(1))
    assert second in answers and second != first
    ordinary = site.clip_ids[0]
    refused = client.post(f"/practice/clip/{ordinary}/vote",
                          data={"emotion": "1", "csrf_token": csrf_of(page.text)})
    assert refused.status_code == 403
    right = client.post(f"/practice/clip/{second}/vote",
                        data={"emotion": str(answers[second]), "csrf_token": csrf_of(page.text)})
    done = " ".join(client.get(right.headers["location"]).text.split())
    assert "Right: you chose" in done and 'id="practice-done"' in done

    # Real work now: the annotate page, no more redirects.
    assert client.get("/annotate").status_code == 200
    with site.workspace.session() as s:
        practice = s.execute(select(PracticeVote.clip_id, PracticeVote.emotion,
                                    PracticeVote.gold_emotion)
                             .where(PracticeVote.person_id == site.ids["ann1"])
                             .order_by(PracticeVote.id)).all()
        assert practice == [(first, wrong, answers[first]),
                            (second, answers[second], answers[second])]
        assert s.scalar(select(func.count()).select_from(Vote)) == 0  # counted nowhere


def test_no_practice_when_off_and_none_for_someone_who_already_voted(site):
    client = make_client(site, "ann2")
    assert client.get("/annotate").status_code == 200
    off = client.get("/practice")
    assert off.status_code == 303 and off.headers["location"] == "/annotate"
    # A video of a gold clip that is not theirs stays refused without practice.
    with site.workspace.session() as s:
        theirs = set(s.scalars(select(Assignment.clip_id)
                               .where(Assignment.annotator_id == site.ids["ann2"])))
    other_gold = next(c for c in site.clip_ids[4:] if c not in theirs)
    assert client.get(f"/media/clip/{other_gold}").status_code == 403

    _practice(site, 2)
    token = page_csrf(make_client(site, "ann3"), "/practice")
    assert token
    veteran = make_client(site, "ann2")
    clip_id = sorted(theirs)[0]
    vote = veteran.post(f"/annotate/clip/{clip_id}/vote",
                        data={"emotion": "1", "csrf_token": csrf_of(
                            veteran.get(f"/annotate/clip/{clip_id}").text)})
    assert vote.status_code == 303
    assert veteran.get("/annotate").status_code == 200   # already voted: not sent back


def test_gold_accuracy_on_the_admin_page(site):
    with site.workspace.session() as s:
        holders = dict(s.execute(select(Assignment.clip_id, Assignment.annotator_id)
                                 .where(Assignment.clip_id.in_(site.clip_ids[4:]))).all())
    names = {v: k for k, v in site.ids.items()}
    gold_sad, gold_fear = site.clip_ids[4], site.clip_ids[5]
    for clip_id, emotion in ((gold_sad, 2), (gold_fear, 1)):
        name = names[holders[clip_id]]
        client = make_client(site, name)
        page = client.get(f"/annotate/clip/{clip_id}").text
        # Nothing on the page tells a gold clip from an ordinary one.
        assert "gold" not in page.lower() and "practice" not in page.lower()
        token = csrf_of(page)
        assert client.post(f"/annotate/clip/{clip_id}/vote",
                           data={"emotion": str(emotion), "csrf_token": token}
                           ).status_code == 303
    text = " ".join(make_client(site, "admin1").get("/admin").text.split())
    expected = {}
    for clip_id, ok in ((gold_sad, 1), (gold_fear, 0)):
        pid = holders[clip_id]
        votes, correct = expected.get(pid, (0, 0))
        expected[pid] = (votes + 1, correct + ok)
    for pid, (votes, correct) in expected.items():
        cell = (f'<td class="gold" data-gold-votes="{votes}">{correct} of {votes} '
                f'({round(100 * correct / votes)} %)</td>')
        assert cell in text
    assert "votes on the 2 gold check clip(s)" in text
    clips = " ".join(make_client(site, "admin1").get("/admin/clips").text.split())
    assert (f'{gold_sad}</a> <span class="muted gold">gold check</span></td><td>1.50 s</td> '
            f'<td>1</td><td>1 (0 counted)</td>') in clips
