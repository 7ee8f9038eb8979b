"""Assignment: n distinct active annotators per cut clip, balanced, seeded, idempotent."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from dfew_build.annotation.assign import assign_clips
from dfew_build.db.models import Assignment, Clip, Movie, Person, Vote
from dfew_build.errors import AssignmentError
from dfew_build.people import add_person, deactivate


def _setup(session, annotators=12, clips=30, extra=()):
    movie = Movie(path="/m.mp4", sha256="f" * 64, size_bytes=1, status="ok")
    session.add(movie)
    session.flush()
    for i in range(1, annotators + 1):
        add_person(session, f"a{i:02d}", "annotator")
    add_person(session, "boss", "admin")
    for i in range(clips):
        session.add(Clip(movie_id=movie.id, start_s=i, end_s=i + 1, duration_s=1,
                         path=f"clips/{i + 1:05d}.mp4", status="accepted"))
    for kwargs in extra:  # clips that must not be assigned
        session.add(Clip(movie_id=movie.id, start_s=100, end_s=101, duration_s=1, **kwargs))
    session.flush()


def _pairs(session):
    return sorted(session.execute(select(Assignment.clip_id, Assignment.annotator_id)).all())


def _check_invariants(session, n):
    clip_ids = session.scalars(select(Clip.id).where(Clip.path.is_not(None),
                                                     Clip.status == "accepted")).all()
    pairs = _pairs(session)
    per_clip = Counter(c for c, _ in pairs)
    assert all(per_clip[c] == n for c in clip_ids)
    assert len(set(pairs)) == len(pairs)  # distinct annotators on each clip
    active = set(session.scalars(select(Person.id).where(Person.active.is_(True),
                                                          Person.role == "annotator")))
    loads = Counter(a for _, a in pairs if a in active)
    return per_clip, loads


@pytest.mark.parametrize("annotators, clips, n", [(12, 30, 10), (12, 7, 10), (10, 5, 10),
                                                  (5, 13, 3), (11, 1, 10)])
def test_every_clip_gets_n_distinct_annotators_with_balanced_loads(workspace, annotators,
                                                                   clips, n):
    with workspace.session() as session:
        _setup(session, annotators, clips)
        report = assign_clips(session, n, seed=1)
        _, loads = _check_invariants(session, n)
    assert report.added == clips * n and report.clips == clips
    counts = [loads.get(pid, 0) for pid in range(1, annotators + 1)]
    assert max(counts) - min(counts) <= 1
    assert sum(counts) == clips * n
    assert report.as_dict()["load_spread"] <= 1


def test_only_cut_and_accepted_clips_are_assigned(workspace):
    with workspace.session() as session:
        _setup(session, 10, 3, extra=[{"status": "accepted"},  # not cut
                                      {"status": "candidate", "path": "clips/x.mp4"},
                                      {"status": "rejected", "path": "clips/y.mp4"}])
        report = assign_clips(session, 10)
        assigned = {c for c, _ in _pairs(session)}
    assert report.clips == 3 and assigned == {1, 2, 3}


def test_same_seed_same_result_other_seed_differs(tmp_path):
    from dfew_build.workspace import init_workspace

    results = []
    for seed in (7, 7, 8):
        ws, _ = init_workspace(tmp_path / f"ws{len(results)}")
        with ws.session() as session:
            _setup(session, 12, 20)
            assign_clips(session, 10, seed=seed)
            results.append(_pairs(session))
        ws.close()
    assert results[0] == results[1]
    assert results[0] != results[2]


def test_rerun_adds_nothing_and_new_clips_get_only_what_is_missing(workspace):
    with workspace.session() as session:
        _setup(session, 12, 10)
        assign_clips(session, 10)
        before = _pairs(session)
        again = assign_clips(session, 10)
        assert again.added == 0 and _pairs(session) == before
        session.add(Clip(movie_id=1, start_s=50, end_s=51, duration_s=1,
                         path="clips/00050.mp4", status="accepted"))
        session.flush()
        more = assign_clips(session, 10)
        assert more.added == 10
        assert set(before) <= set(_pairs(session))
        _, loads = _check_invariants(session, 10)
    assert max(loads.values()) - min(loads.values()) <= 1


def test_imported_assignments_count(workspace):
    with workspace.session() as session:
        _setup(session, 12, 2)
        for annotator_id in (1, 2, 3):
            session.add(Assignment(clip_id=1, annotator_id=annotator_id, source="imported"))
            session.add(Vote(clip_id=1, annotator_id=annotator_id, emotion=2))
        session.flush()
        report = assign_clips(session, 10)
        per_clip, _ = _check_invariants(session, 10)
    assert report.added == 7 + 10 and per_clip[1] == 10


def test_deactivation_moves_only_unvoted_assignments(workspace):
    with workspace.session() as session:
        _setup(session, 12, 12)
        assign_clips(session, 10)
        leaver = session.scalar(select(Person).where(Person.name == "a03"))
        theirs = sorted(c for c, a in _pairs(session) if a == leaver.id)
        voted = theirs[:3]
        for clip_id in voted:
            session.add(Vote(clip_id=clip_id, annotator_id=leaver.id, emotion=1))
        session.flush()
        deactivate(session, "a03")
        report = assign_clips(session, 10)
        pairs = _pairs(session)
        still = sorted(c for c, a in pairs if a == leaver.id)
        per_clip = Counter(c for c, _ in pairs)
    assert report.released == len(theirs) - 3 and report.added == len(theirs) - 3
    assert still == voted  # voted clips stay theirs; the rest went to others
    assert all(per_clip[c] == 10 for c in range(1, 13))
    assert "a03" not in report.loads
    loads = report.loads.values()
    assert max(loads) - min(loads) <= 1


def test_too_few_annotators_is_a_clear_error_and_writes_nothing(workspace):
    with workspace.session() as session:
        _setup(session, 7, 3)
        with pytest.raises(AssignmentError) as error:
            assign_clips(session, 10)
    assert str(error.value) == (
        "clip 1 needs 10 distinct annotators but only 7 can be on it (7 active annotator(s), "
        "0 already assigned); add annotators with `dfew-build people add NAME --role "
        "annotator` or lower --per-clip (now 10)")
    with workspace.session() as session:
        assert _pairs(session) == []


def test_per_clip_must_be_positive(workspace):
    with workspace.session() as session:
        with pytest.raises(AssignmentError, match="--per-clip must be at least 1, not 0"):
            assign_clips(session, 0)


def test_an_excluded_annotators_clips_are_topped_up_to_n_counted(workspace):
    from dfew_build.people import exclude

    with workspace.session() as session:
        _setup(session, 12, 12)
        assign_clips(session, 10)
        spammer = session.scalar(select(Person).where(Person.name == "a05"))
        theirs = sorted(c for c, a in _pairs(session) if a == spammer.id)
        for clip_id in theirs[:4]:
            session.add(Vote(clip_id=clip_id, annotator_id=spammer.id, emotion=2))
        session.flush()
        exclude(session, "a05", "spam")
        report = assign_clips(session, 10)
        pairs = _pairs(session)
    counted = Counter(c for c, a in pairs if a != spammer.id)
    assert all(counted[c] == 10 for c in range(1, 13))
    assert sorted(c for c, a in pairs if a == spammer.id) == theirs[:4]  # votes stay
    assert report.released == len(theirs) - 4
    assert report.added == report.topped_up == len(theirs)
    assert "a05" not in report.loads


def test_retired_clips_are_left_out_and_do_not_weigh_on_loads(workspace):
    from datetime import datetime, timezone

    with workspace.session() as session:
        _setup(session, 10, 4)
        session.get(Clip, 2).retired_at = datetime.now(timezone.utc)
        session.flush()
        report = assign_clips(session, 5)
        assert report.clips == 3 and {c for c, _ in _pairs(session)} == {1, 3, 4}
        session.get(Clip, 2).retired_at = None  # restored: it gets its annotators now
        session.flush()
        again = assign_clips(session, 5)
        loads = again.loads.values()
    assert again.added == 5 and max(loads) - min(loads) <= 1


def test_only_clips_tops_up_just_those(workspace):
    with workspace.session() as session:
        _setup(session, 12, 6)
        report = assign_clips(session, 10, only_clips={2, 5})
        assert report.added == 20 and {c for c, _ in _pairs(session)} == {2, 5}


def test_queue_order_is_a_seeded_function_of_annotator_and_clip():
    from dfew_build.annotation.assign import QueueOrder, queue_key, queue_order
    from dfew_build.errors import ConfigError

    clips = list(range(1, 41))
    order = queue_order({"annotation": {}})
    assert order == QueueOrder("random", 0)
    first, second = order.sort(1, clips), order.sort(2, clips)
    assert sorted(first) == clips and first != clips and first != second
    assert order.sort(1, reversed(clips)) == first  # the same whatever the input order
    assert QueueOrder("random", 1).sort(1, clips) != first
    assert queue_key(0, 1, 5) == queue_key(0, 1, 5) != queue_key(0, 2, 5)
    # Pinned: a different key would reshuffle the queues of every running campaign.
    assert queue_key(0, 1, 5) == 0xeba93a4b5ad531e2
    assert queue_order({"annotation": {"order": "id"}}).sort(3, [5, 2, 9]) == [2, 5, 9]
    with pytest.raises(ConfigError, match="annotation.order = 'x' should be one of"):
        queue_order({"annotation": {"order": "x"}})
    with pytest.raises(ConfigError, match="annotation.order_seed = True should be a whole"):
        queue_order({"annotation": {"order_seed": True}})
