"""SQLAlchemy 2.0 models and the session factory. Tables are created only by Alembic."""

from dfew_build.db.models import (Assignment, Base, Clip, FaceTrack, Fold, Movie, Person, Run,
                                  Vote)
from dfew_build.db.session import make_engine, make_session_factory, redact_url

__all__ = ["Assignment", "Base", "Clip", "FaceTrack", "Fold", "Movie", "Person", "Run", "Vote",
           "make_engine", "make_session_factory", "redact_url"]
