"""The schema comes only from Alembic, and it matches the models exactly."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from dfew_build.db import Assignment, Base, Clip, Movie, Person, Vote
from dfew_build.db.models import utcnow
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


def test_queue_version_triggers_at_head(engine):
    """Migration 0005's triggers bump person.queue_version on every change that can touch a
    queue, whoever writes (a later migration that recreates one of these tables on SQLite
    must create them again)."""
    from dfew_build.db.models import ProblemReport

    upgrade(engine)
    sessions = make_session_factory(engine)

    def version(session, person):
        session.expire_all()
        return session.get(Person, person.id).queue_version

    with sessions() as session:
        movie = Movie(path="/m.mp4", sha256="b" * 64, size_bytes=1)
        ann, other = Person(name="ann", role="annotator"), Person(name="bob", role="annotator")
        clip = Clip(movie=movie, start_s=1.0, end_s=2.0, duration_s=1.0, path="c.mp4")
        session.add_all([movie, ann, other, clip])
        session.commit()
        seen = [version(session, ann)]
        steps = [
            lambda: session.add(Assignment(clip_id=clip.id, annotator_id=ann.id)),
            lambda: session.add(Vote(clip_id=clip.id, annotator_id=ann.id, emotion=3)),
            lambda: setattr(clip, "retired_reason", "x") or setattr(clip, "retired_at",
                                                                     utcnow()),
            lambda: session.add(ProblemReport(clip_id=clip.id, reporter_id=ann.id,
                                              kind="no_face")),
            lambda: session.execute(Vote.__table__.delete()),
        ]
        for step in steps:
            step()
            session.commit()
            seen.append(version(session, ann))
        assert all(b > a for a, b in zip(seen, seen[1:])), seen
        # A revised emotion changes no queue; another person's changes leave ann alone.
        session.add(Vote(clip_id=clip.id, annotator_id=ann.id, emotion=3))
        session.commit()
        before = version(session, ann)
        session.execute(Vote.__table__.update().values(emotion=5))
        session.add(Assignment(clip_id=clip.id, annotator_id=other.id))
        session.commit()
        assert version(session, ann) == before
        assert version(session, other) >= 1
