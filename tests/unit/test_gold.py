"""Gold clips (issue 15): accuracy, the mixing rate and its determinism, practice picks kept
out of the checks, gold clips never topped up, practice votes counted nowhere."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from dfew_build.annotation.assign import assign_clips
from dfew_build.annotation.gold import (gold_accuracy, gold_target, practice_clip_ids,
                                        practice_state, record_practice, set_gold)
from dfew_build.db.models import Assignment, Clip, Movie, Person, Vote
from dfew_build.errors import GoldError
from dfew_build.labels.matrix import vote_accounting, vote_matrix
from dfew_build.people import add_person

GOLD_IDS = range(41, 61)   # 20 gold clips after 40 ordinary ones


def _setup(session, annotators=6, clips=40, gold=20):
    movie = Movie(path="/m.mp4", sha256="e" * 64, size_bytes=1, status="ok")
    session.add(movie)
    session.flush()
    for i in range(1, annotators + 1):
        add_person(session, f"a{i:02d}", "annotator")
    for i in range(clips + gold):
        session.add(Clip(movie_id=movie.id, start_s=i, end_s=i + 1, duration_s=1,
                         path=f"clips/{i + 1:05d}.mp4", status="accepted"))
    session.flush()
    for clip_id in range(clips + 1, clips + gold + 1):
        set_gold(session, clip_id, 1 + clip_id % 7)


def _gold_pairs(session):
    return sorted(session.execute(select(Assignment.clip_id, Assignment.annotator_id)
                                  .where(Assignment.clip_id.in_(GOLD_IDS))).all())


@pytest.mark.parametrize("real, rate, expected", [(0, 0.05, 0), (100, 0.0, 0), (95, 0.05, 5),
                                                  (20, 0.05, 2), (10, 0.5, 10), (19, 0.05, 1)])
def test_gold_target(real, rate, expected):
    assert gold_target(real, rate) == expected


def test_gold_is_mixed_in_at_the_rate_deterministically_and_never_topped_up(workspace):
    with workspace.session() as session:
        _setup(session)
        report = assign_clips(session, 3, seed=4, gold_rate=0.1)
        pairs = _gold_pairs(session)
        loads = Counter(a for _, a in pairs)
        real = Counter(a for c, a in session.execute(
            select(Assignment.clip_id, Assignment.annotator_id)) if c not in GOLD_IDS)
        # 40 clips x 3 = 120 ordinary assignments, 20 per annotator; 10 %: 20/9 -> 3 each.
        assert report.clips == 40 and report.added == 120
        assert set(real.values()) == {20} and set(loads.values()) == {3}
        assert report.gold_added == 18
        # Running again adds nothing; the same seed on a fresh database picks the same clips.
        again = assign_clips(session, 3, seed=4, gold_rate=0.1)
        assert (again.added, again.gold_added) == (0, 0)
        session.query(Assignment).delete()
        session.flush()
        assign_clips(session, 3, seed=4, gold_rate=0.1)
        assert _gold_pairs(session) == pairs
        # Different annotators get different gold clips (seeded per annotator).
        by_person = {}
        for clip_id, pid in pairs:
            by_person.setdefault(pid, set()).add(clip_id)
        assert len({frozenset(v) for v in by_person.values()}) > 1


def test_gold_rate_zero_gives_no_gold_and_gold_is_not_topped_up(workspace):
    with workspace.session() as session:
        _setup(session)
        report = assign_clips(session, 3, seed=0)
        assert report.gold_added == 0 and _gold_pairs(session) == []
        assert "gold_added" not in report.as_dict()


def test_practice_clips_are_never_gold_checks_of_the_same_person(workspace):
    with workspace.session() as session:
        _setup(session, annotators=3, gold=8)
        practice = {pid: set(practice_clip_ids(session, pid, 3, seed=0)) for pid in (1, 2, 3)}
        assert all(len(p) == 3 and p <= set(range(41, 49)) for p in practice.values())
        assign_clips(session, 2, seed=0, gold_rate=0.5, practice_clips=3, practice_seed=0)
        for clip_id, pid in session.execute(select(Assignment.clip_id, Assignment.annotator_id)
                                            .where(Assignment.clip_id > 40)):
            assert clip_id not in practice[pid]
        # 5 gold clips left per person: capped there (the rate would ask for more).
        assert Counter(a for a in session.scalars(
            select(Assignment.annotator_id).where(Assignment.clip_id > 40))) == \
            {1: 5, 2: 5, 3: 5}


def test_accuracy_and_practice_votes_count_nowhere(workspace):
    with workspace.session() as session:
        _setup(session, annotators=2, clips=2, gold=2)   # clips 1, 2; gold 3 (answer 4), 4 (5)
        for clip_id in (1, 2, 3, 4):
            for pid in (1, 2):
                session.add(Assignment(clip_id=clip_id, annotator_id=pid))
        session.flush()
        answers = {1: {1: 1, 2: 1, 3: 4, 4: 5}, 2: {1: 1, 2: 2, 3: 4, 4: 1}}
        for pid, votes in answers.items():
            for clip_id, emotion in votes.items():
                session.add(Vote(clip_id=clip_id, annotator_id=pid, emotion=emotion))
        session.flush()
        accuracy = gold_accuracy(session)
        assert accuracy == {1: {"gold_votes": 2, "gold_correct": 2, "gold_accuracy": 1.0},
                            2: {"gold_votes": 2, "gold_correct": 1, "gold_accuracy": 0.5}}
        matrix = vote_matrix(session)
        assert list(matrix.index) == [1, 2]              # gold clips 3, 4 not counted
        assert int(matrix.to_numpy().sum()) == 4
        accounting = vote_accounting(session)
        assert (accounting.gold_clips, accounting.gold_votes) == (2, 4)

        # Practice: feedback, the first answer kept, nothing counted, not in accuracy.
        add_person(session, "new", "annotator")
        newcomer = session.scalar(select(Person.id).where(Person.name == "new"))
        state = practice_state(session, newcomer, 2)
        assert (state["total"], state["done"]) == (2, 0)
        first = state["next"]
        answer = 1 + first % 7
        wrong = 1 if answer != 1 else 2
        assert record_practice(session, newcomer, first, wrong) == {
            "clip_id": first, "emotion": wrong, "gold_emotion": answer, "matched": False}
        assert record_practice(session, newcomer, first, answer)["matched"] is False
        assert practice_state(session, newcomer, 2)["done"] == 1
        assert newcomer not in gold_accuracy(session)
        assert int(vote_matrix(session).to_numpy().sum()) == 4
        with pytest.raises(GoldError, match="clip 1 is not a practice clip"):
            record_practice(session, newcomer, 1, 1)
        with pytest.raises(GoldError, match="not a code 1..7"):
            record_practice(session, newcomer, first, 9)
