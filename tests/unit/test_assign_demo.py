"""run_annotation_demo: idempotent team and assignment, usable login links."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dfew_build.annotation.demo import run_annotation_demo
from dfew_build.db.models import Assignment, Clip, Movie, Person
from dfew_build.errors import PeopleError
from dfew_build.people import add_person, person_for_token


def _clips(workspace, count):
    with workspace.session() as session:
        movie = Movie(path="/m.mp4", sha256="d" * 64, size_bytes=1, status="ok")
        session.add(movie)
        session.flush()
        session.add_all(Clip(movie_id=movie.id, start_s=i, end_s=i + 1, duration_s=1,
                             path=f"clips/{i + 1:05d}.mp4", status="accepted")
                        for i in range(count))


def test_demo_team_and_assignment(workspace):
    _clips(workspace, 6)
    first = run_annotation_demo(workspace)
    assert first["people_added"] == 13 and first["assignments_added"] == 60
    assert first["clips"] == 6 and first["per_clip"] == 10 and first["load_spread"] <= 1
    second = run_annotation_demo(workspace)
    assert second["people_added"] == 0 and second["assignments_added"] == 0
    with workspace.session() as session:
        names = set(session.scalars(select(Person.name).where(Person.role == "annotator")))
        assert names == {f"annotator-{i:02d}" for i in range(1, 13)}
        assert session.scalar(select(func.count()).select_from(Assignment)) == 60
        # A re-run issues no new tokens: the links printed first still work.
        assert second["admin_login_link"] is None and second["annotator_login_link"] is None
        assert second["link_command"].endswith("people link demo-admin")
        token = first["admin_login_link"].rsplit("/", 1)[1]
        assert person_for_token(session, token).name == "demo-admin"
        token = first["annotator_login_link"].rsplit("/", 1)[1]
        assert person_for_token(session, token).name == "annotator-01"


def test_demo_with_the_labels_engineers_names(workspace):
    _clips(workspace, 2)
    names = [f"simulated-annotator-{i:02d}" for i in range(1, 11)]
    result = run_annotation_demo(workspace, annotator_names=names)
    assert result["annotators"] == 10 and result["assignments_added"] == 20


def test_demo_refuses_a_name_with_another_role(workspace):
    with workspace.session() as session:
        add_person(session, "annotator-03", "extractor")
    with pytest.raises(PeopleError, match="the demo needs 'annotator-03' as annotator, but "
                                          "that name is an existing extractor"):
        run_annotation_demo(workspace)
