"""The schema comes only from Alembic, and it matches the models exactly."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from dfew_build.db import Assignment, Base, Clip, Movie, Person, Vote
from dfew_build.db.migrate import current_revision, downgrade, head_revision, upgrade
from dfew_build.db.session import make_engine, make_session_factory
from tests.databases import backends, throwaway_url


@pytest.fixture(params=backends())
def engine(request, tmp_path):
    with throwaway_url(request.param, tmp_path) as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _drift(engine):
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)


def test_upgrade_head_on_empty_database_matches_models(engine):
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision(str(engine.url))
    assert _drift(engine) == []
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)


def test_downgrade_upgrade_round_trip(engine):
    upgrade(engine)
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert _drift(engine) == []


def test_constraints_hold(engine):
    upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions() as session:
        movie = Movie(path="/m.mp4", sha256="a" * 64, size_bytes=1)
        annotator = Person(name="ann", role="annotator")
        clip = Clip(movie=movie, start_s=1.0, end_s=2.0, duration_s=1.0)
        session.add_all([movie, annotator, clip])
        session.commit()
        # A vote exists only for an assignment.
        session.add(Vote(clip_id=clip.id, annotator_id=annotator.id, emotion=3))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.add(Assignment(clip_id=clip.id, annotator_id=annotator.id))
        session.add(Vote(clip_id=clip.id, annotator_id=annotator.id, emotion=3))
        session.commit()
        for bad in (Vote(clip_id=clip.id, annotator_id=annotator.id, emotion=4),  # duplicate
                    Movie(path="/n.mp4", sha256="a" * 64, size_bytes=1),  # same fingerprint
                    Person(name="x", role="boss"),  # unknown role
                    Clip(movie_id=movie.id, start_s=3.0, end_s=2.0, duration_s=-1.0)):
            session.add(bad)
            with pytest.raises(IntegrityError):
                session.commit()
            session.rollback()


def test_declared_heads_match_alembic():
    """The cheap start-up check reads the migration files itself; it must agree with Alembic."""
    from dfew_build.db.migrate import declared_heads, head_revision

    assert declared_heads() == {head_revision("sqlite://")}
