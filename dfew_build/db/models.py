"""The data model of DESIGN.md §3.

Enumerated columns are strings with CHECK constraints (portable across SQLite and
PostgreSQL, and cheap to extend in a migration). Constraint names follow one convention
so Alembic's batch mode can recreate SQLite tables.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, DateTime, Float,
                        ForeignKey, ForeignKeyConstraint, Integer, MetaData, SmallInteger,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MOVIE_STATUSES = ("ok", "rejected")
PERSON_ROLES = ("annotator", "extractor", "admin")
CLIP_SOURCES = ("manual", "proposed", "imported")
CLIP_STATUSES = ("candidate", "accepted", "rejected")
ASSIGNMENT_SOURCES = ("assigned", "imported")
FACE_STATUSES = ("kept", "dropped_low_face_rate", "failed")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON}


class Movie(Base):
    __tablename__ = "movie"
    __table_args__ = (CheckConstraint(_one_of("status", MOVIE_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(Text, index=True)
    # Sampled content fingerprint (see dfew_build.media.fingerprint), not a full-file hash.
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[Optional[str]] = mapped_column(Text)
    year: Mapped[Optional[int]] = mapped_column(Integer)
    genre: Mapped[Optional[str]] = mapped_column(Text)
    country: Mapped[Optional[str]] = mapped_column(Text)
    duration_s: Mapped[Optional[float]] = mapped_column(Float)
    fps: Mapped[Optional[float]] = mapped_column(Float)
    frame_count: Mapped[Optional[int]] = mapped_column(Integer)
    width: Mapped[Optional[int]] = mapped_column(Integer)
    height: Mapped[Optional[int]] = mapped_column(Integer)
    codec: Mapped[Optional[str]] = mapped_column(String(32))
    # The decoding contract (DESIGN.md §7): width/height above are the *display* size every
    # stage sees (rotation applied, square pixels); the coded picture and how to get from it
    # to the display are recorded here (dfew_build.media.decode).
    coded_width: Mapped[Optional[int]] = mapped_column(Integer)
    coded_height: Mapped[Optional[int]] = mapped_column(Integer)
    rotation: Mapped[Optional[int]] = mapped_column(SmallInteger)  # clockwise degrees: 0/90/180/270
    sar: Mapped[Optional[str]] = mapped_column(String(16))  # sample aspect ratio "num:den"
    interlaced: Mapped[Optional[bool]] = mapped_column(Boolean)
    field_order: Mapped[Optional[str]] = mapped_column(String(16))  # progressive|tff|bff
    # Time of the first video frame in the file's own timestamps, and its distance from the
    # container's start (what FFmpeg's -ss counts from). Our timeline puts that frame at 0 s.
    start_s: Mapped[Optional[float]] = mapped_column(Float)
    video_delay_s: Mapped[Optional[float]] = mapped_column(Float)
    container: Mapped[Optional[str]] = mapped_column(String(64))
    browser_playable: Mapped[Optional[bool]] = mapped_column(Boolean)
    proxy_path: Mapped[Optional[str]] = mapped_column(Text)  # workspace-relative H.264 proxy
    status: Mapped[str] = mapped_column(String(16), default="ok")
    error: Mapped[Optional[str]] = mapped_column(Text)
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    clips: Mapped[list["Clip"]] = relationship(back_populates="movie")


class Person(Base):
    __tablename__ = "person"
    __table_args__ = (CheckConstraint(_one_of("role", PERSON_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # Only a hash of the login token is ever stored.
    token_hash: Mapped[Optional[str]] = mapped_column(String(128), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # An excluded annotator's votes stay stored but count nowhere (kappa, labels, quality,
    # exports); unlike `active`, which only stops logging in. Set: when and why.
    excluded_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    excluded_reason: Mapped[Optional[str]] = mapped_column(Text)
    # When the current login link stops working (None: it does not expire).
    token_expires_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    # Bumped by database triggers (migration 0005) whenever the person's queue or progress
    # can change: their votes, assignments and problem reports, a status/cut/retire change of
    # a clip they hold. The server caches a queue while this stays the same.
    queue_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Clip(Base):
    __tablename__ = "clip"
    __table_args__ = (
        CheckConstraint(_one_of("source", CLIP_SOURCES), name="source"),
        CheckConstraint(_one_of("status", CLIP_STATUSES), name="status"),
        CheckConstraint("intended_emotion BETWEEN 1 AND 7", name="intended_emotion"),
        CheckConstraint("end_s > start_s", name="span"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL for clips imported from a release that ships no movies.
    movie_id: Mapped[Optional[int]] = mapped_column(ForeignKey("movie.id"), index=True)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float] = mapped_column(Float)
    path: Mapped[Optional[str]] = mapped_column(Text)  # set once the clip is cut
    sha256: Mapped[Optional[str]] = mapped_column(String(64))
    extractor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("person.id"), index=True)
    # The extractor's claim; never shown to annotators.
    intended_emotion: Mapped[Optional[int]] = mapped_column(SmallInteger)
    source: Mapped[str] = mapped_column(String(16), default="manual")
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A retired clip (e.g. no usable face) keeps its row and votes but leaves queues,
    # agreement, labels, folds and exports; `clips restore` clears these.
    retired_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    retired_reason: Mapped[Optional[str]] = mapped_column(Text)

    movie: Mapped[Optional[Movie]] = relationship(back_populates="clips")
    extractor: Mapped[Optional[Person]] = relationship()


class Assignment(Base):
    __tablename__ = "assignment"
    __table_args__ = (
        UniqueConstraint("clip_id", "annotator_id"),
        CheckConstraint(_one_of("source", ASSIGNMENT_SOURCES), name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clip.id"), index=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    source: Mapped[str] = mapped_column(String(16), default="assigned")
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Vote(Base):
    __tablename__ = "vote"
    __table_args__ = (
        UniqueConstraint("clip_id", "annotator_id"),
        # A vote exists only for an assignment: the database enforces it.
        ForeignKeyConstraint(["clip_id", "annotator_id"],
                             ["assignment.clip_id", "assignment.annotator_id"]),
        CheckConstraint("emotion BETWEEN 1 AND 7", name="emotion"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clip_id: Mapped[int] = mapped_column(index=True)
    annotator_id: Mapped[int] = mapped_column(index=True)
    emotion: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class FaceTrack(Base):
    """The preprocessing result of one clip: the protagonist's face track and what was kept."""

    __tablename__ = "face_track"
    __table_args__ = (
        UniqueConstraint("clip_id", "detector"),
        CheckConstraint(_one_of("status", FACE_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clip.id"), index=True)
    detector: Mapped[str] = mapped_column(String(32))
    frames_total: Mapped[int] = mapped_column(Integer, default=0)
    frames_with_face: Mapped[int] = mapped_column(Integer, default=0)
    face_rate: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    storage: Mapped[Optional[str]] = mapped_column(Text)  # aligned-frames folder, workspace-relative
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Fold(Base):
    __tablename__ = "fold"
    __table_args__ = (
        UniqueConstraint("clip_id", "scheme"),
        CheckConstraint("fold >= 1", name="fold"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clip.id"), index=True)
    scheme: Mapped[str] = mapped_column(String(64), index=True)
    fold: Mapped[int] = mapped_column(SmallInteger)


class Run(Base):
    """A benchmark run; its files live in WS/runs/{name}/."""

    __tablename__ = "run"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    model: Mapped[str] = mapped_column(String(64))
    loss: Mapped[str] = mapped_column(String(32))
    fold: Mapped[Optional[int]] = mapped_column(SmallInteger)  # NULL for an aggregate of folds
    scheme: Mapped[Optional[str]] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[Optional[dict[str, Any]]] = mapped_column()
    checkpoint_path: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))


class LoginSession(Base):
    """A browser's login on the annotation server. The cookie holds a random token; only its
    SHA-256 is stored. Logging out, deactivation and a new login link revoke sessions (set
    revoked_at); a session also ends at expires_at. Flash messages wait here (not in the
    cookie) until the next page shows them."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    flashes: Mapped[Optional[str]] = mapped_column(Text)  # JSON [[kind, message], ...]


PROBLEM_KINDS = ("no_face", "several_faces", "broken_video")


class ProblemReport(Base):
    """An annotator's report that a clip cannot be judged. Not a vote; one per kind."""

    __tablename__ = "problem_report"
    __table_args__ = (
        UniqueConstraint("clip_id", "reporter_id", "kind"),
        CheckConstraint(_one_of("kind", PROBLEM_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clip.id"), index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    note: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))


class GoldClip(Base):
    """A gold (check) clip: a real clip whose answer the admin knows (issue 15).

    Its votes measure each annotator's gold accuracy and count nowhere else (not in kappa,
    alpha, labels, the single-label subset, Dawid-Skene, folds, exports or assign's
    raters-per-clip top-ups), like a retired clip's for the dataset; unlike a retired clip
    it stays in the queues, mixed in at `[annotation] gold_rate`. Removing the mark makes
    its votes count again.
    """

    __tablename__ = "gold_clip"
    __table_args__ = (CheckConstraint("emotion BETWEEN 1 AND 7", name="emotion"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clip.id"), unique=True)
    emotion: Mapped[int] = mapped_column(SmallInteger)  # the known answer, DFEW code 1..7
    set_by: Mapped[Optional[str]] = mapped_column(String(200))  # who marked it (free text)
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PracticeVote(Base):
    """A vote of the practice round (`[annotation] practice_clips`): on a gold clip, with
    the answer shown afterwards. Stored apart from `vote` and counted nowhere (not even in
    gold accuracy). `gold_emotion` is the answer as it was when the vote was cast."""

    __tablename__ = "practice_vote"
    __table_args__ = (
        UniqueConstraint("person_id", "clip_id"),
        CheckConstraint("emotion BETWEEN 1 AND 7", name="emotion"),
        CheckConstraint("gold_emotion BETWEEN 1 AND 7", name="gold_emotion"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clip.id"), index=True)
    emotion: Mapped[int] = mapped_column(SmallInteger)
    gold_emotion: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
