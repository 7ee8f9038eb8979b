"""The vote matrix from the database (one grouped query) and from count triples."""

import numpy as np
import pytest
from sqlalchemy import select

import dfew_build.labels.matrix as matrix_module
from dfew_build.db.models import Assignment, Clip, Person, Vote
from dfew_build.emotions import NAMES
from dfew_build.errors import LabelsError
from dfew_build.labels.matrix import complete_rows, matrix_from_counts, vote_matrix


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
    matrix = matrix_from_counts([(1, 1, 10), (2, 1, 9), (3, 2, 4), (3, 3, 6)])
    complete, fewer = complete_rows(matrix, 10)
    assert list(complete.index) == [1, 3] and fewer == 1
    over = matrix_from_counts([(c, 1, 11) for c in range(1, 8)] + [(9, 1, 12)])
    with pytest.raises(LabelsError) as error:
        complete_rows(over, 10)
    assert str(error.value) == (
        "8 clip(s) have more votes than the 10 raters per clip (clip 1: 11 votes, clip 2: 11 "
        "votes, clip 3: 11 votes, clip 4: 11 votes, clip 5: 11 votes and 3 more); set "
        "[annotation] raters_per_clip in dfew.toml (or pass --raters) to the number of votes "
        "every clip gets")
