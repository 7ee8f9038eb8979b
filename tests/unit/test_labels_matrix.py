"""The vote matrix from the database (one grouped query over counted votes) and from count
triples; what the counted-vote rule leaves out."""

import numpy as np
import pytest
from datetime import datetime, timezone

from sqlalchemy import func, select

import dfew_build.labels.matrix as matrix_module
from dfew_build.db.models import Assignment, Clip, Person, Vote
from dfew_build.emotions import NAMES
from dfew_build.errors import LabelsError
from dfew_build.labels.matrix import (complete_rows, counted_filter, counted_votes,
                                      matrix_from_counts,
                                      vote_accounting, vote_count_histogram, vote_matrix)


def _seed(session, votes: dict[int, list[int]]) -> None:
    """votes: clip id -> emotion codes, one per annotator a0, a1, ..."""
    width = max(len(v) for v in votes.values())
    people = [Person(name=f"a{i}", role="annotator") for i in range(width)]
    session.add_all(people)
    for clip_id in votes:
        session.add(Clip(id=clip_id, start_s=0.0, end_s=2.0, duration_s=2.0))
    session.flush()
    for clip_id, codes in votes.items():
        for person, code in zip(people, codes):
            session.add(Assignment(clip_id=clip_id, annotator_id=person.id))
            session.flush()
            session.add(Vote(clip_id=clip_id, annotator_id=person.id, emotion=code))
    session.flush()


def test_vote_matrix_counts_per_clip_and_emotion(workspace):
    with workspace.session() as session:
        _seed(session, {3: [1, 1, 7], 1: [5, 7, 5, 5], 2: [2]})
        matrix = vote_matrix(session)
        assert list(matrix.columns) == list(NAMES)
        assert matrix.index.name == "clip_id" and list(matrix.index) == [1, 2, 3]
        assert matrix.dtypes.unique().tolist() == [np.dtype("int64")]
        assert matrix.loc[1].tolist() == [0, 0, 0, 0, 3, 0, 1]
        assert matrix.loc[2].tolist() == [0, 1, 0, 0, 0, 0, 0]
        assert matrix.loc[3].tolist() == [2, 0, 0, 0, 0, 0, 1]
        assert list(vote_matrix(session, clip_ids=[3, 99]).index) == [3]
        assert vote_matrix(session, clip_ids=[]).shape == (0, 7)
        # Same answer as the triples the lead's version grouped by.
        rows = session.execute(select(Vote.clip_id, Vote.emotion)).all()
        triples = [(c, e, 1) for c, e in rows]
        assert matrix_from_counts(triples).equals(matrix)


def test_long_id_lists_are_filtered_without_a_huge_in_clause(workspace, monkeypatch):
    monkeypatch.setattr(matrix_module, "MAX_IN_LIST", 2)
    with workspace.session() as session:
        _seed(session, {1: [1], 2: [2], 3: [3], 4: [4]})
        assert list(vote_matrix(session, clip_ids=[1, 2, 4]).index) == [1, 2, 4]


def test_empty_database(workspace):
    with workspace.session() as session:
        matrix = vote_matrix(session)
    assert matrix.shape == (0, 7) and matrix.index.name == "clip_id"


def test_matrix_from_counts_adds_repeats_and_checks_codes():
    matrix = matrix_from_counts([(5, 1, 2), (5, 1, 3), (4, 7, 1)])
    assert matrix.loc[5].tolist() == [5, 0, 0, 0, 0, 0, 0]
    assert list(matrix.index) == [4, 5]
    assert matrix_from_counts([]).shape == (0, 7)
    assert matrix_from_counts(iter([(1, 2, 1)])).loc[1].tolist() == [0, 1, 0, 0, 0, 0, 0]
    with pytest.raises(LabelsError, match=r"^emotion code 8 for clip 4 is not in 1\.\.7$"):
        matrix_from_counts([(4, 8, 1)])


def test_complete_rows():
    matrix = matrix_from_counts([(1, 1, 10), (2, 1, 9), (3, 2, 4), (3, 3, 6), (4, 1, 11)])
    complete, other = complete_rows(matrix, 10)
    assert list(complete.index) == [1, 3] and other == 2
    # 11 votes are not an error any more: such clips are simply not complete.
    with pytest.raises(LabelsError, match="must be at least 1, not 0"):
        complete_rows(matrix, 0)


def test_vote_count_histogram():
    assert vote_count_histogram([10, 9, 10, 11, 10]) == {9: 1, 10: 3, 11: 1}
    assert vote_count_histogram([]) == {}


def _retire(session, clip_id, reason="no usable face"):
    clip = session.get(Clip, clip_id)
    clip.retired_at, clip.retired_reason = datetime.now(timezone.utc), reason


def _exclude(session, name, reason="says sad for neutral"):
    person = session.scalars(select(Person).where(Person.name == name)).one()
    person.excluded_at, person.excluded_reason = datetime.now(timezone.utc), reason


def test_counted_votes_leave_out_retired_clips_and_excluded_annotators(workspace):
    with workspace.session() as session:
        # a0..a3 vote; clip 4 is voted on by a0 only.
        _seed(session, {1: [1, 1, 1, 2], 2: [3, 3, 4, 4], 3: [7, 7, 7, 7], 4: [5]})
        assert vote_accounting(session).as_dict()["retired_clips"] == 0
        assert counted_filter(session) == ()  # nothing to leave out: the plain scan
        _retire(session, 3)
        session.flush()
        assert len(counted_filter(session)) == 1
        _exclude(session, "a0")
        session.flush()
        assert len(counted_filter(session)) == 2
        matrix = vote_matrix(session)
        # Clip 3 is retired; clip 4 had only a0's vote; a0's votes leave clips 1 and 2.
        assert list(matrix.index) == [1, 2]
        assert matrix.loc[1].tolist() == [2, 1, 0, 0, 0, 0, 0]
        assert matrix.loc[2].tolist() == [0, 0, 1, 2, 0, 0, 0]
        assert list(vote_matrix(session, clip_ids=[2, 3]).index) == [2]
        counted = session.execute(counted_votes().order_by(Vote.clip_id, Vote.annotator_id))
        assert len(counted.all()) == 6
        accounting = vote_accounting(session)
        assert accounting.retired_clips == 1 and accounting.retired_votes == 4
        assert accounting.excluded_votes == 3  # clips 1, 2, 4; its vote on clip 3 is retired
        assert accounting.clips_only_excluded == 1
        assert [(e["annotator"], e["reason"], e["votes"]) for e in accounting.excluded] == [
            ("a0", "says sad for neutral", 3)]
        assert accounting.phrases() == [
            "1 retired clip(s) (4 votes)", "3 vote(s) of 1 excluded annotator(s) (a0)",
            "1 clip(s) voted on only by excluded annotators"]
        # Every vote is still stored.
        assert session.scalar(select(func.count(Vote.id))) == 13
