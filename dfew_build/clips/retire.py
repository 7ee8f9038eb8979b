"""Retiring and restoring accepted clips: campaign state kept as data (DESIGN.md §3), never
deletion; a retired clip keeps its row, file, assignments and votes."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dfew_build.clips.batch import BatchOutcome, each_clip
from dfew_build.clips.lookup import get_clip
from dfew_build.db.models import Clip, Vote, utcnow
from dfew_build.errors import ClipError


MAX_REASON = 2000


def clean_reason(reason: str | None, what: str) -> str:
    """A retire/exclude reason as stored: stripped, at most MAX_REASON characters; ClipError
    when empty (campaign state always says why)."""
    # No NUL or other control characters (PostgreSQL refuses NUL in text).
    text = " ".join("".join(ch if ch >= " " else " " for ch in str(reason or "")).split())
    if not text:
        raise ClipError(f"the reason is empty: say why {what} (e.g. --reason "
                        "'no face visible')")
    return text[:MAX_REASON]


def retire_clip(session: Session, clip_id: int, reason: str) -> bool:
    """Take an accepted clip out of the campaign; True if it changes, False if it was retired
    already (its first reason and time are kept).

    The clip keeps its row, status, file, assignments and votes (DESIGN.md §3: campaign state
    is data); it leaves annotator queues and assignment, and the analyses count none of its
    votes. Candidates are rejected, not retired; ClipError says so.
    """
    reason = clean_reason(reason, "the clip is retired")
    clip = get_clip(session, clip_id)
    if clip.status == "candidate":
        raise ClipError(f"clip {clip.id} is a candidate, not an accepted clip; reject "
                        f"candidates with: dfew-build clips reject {clip.id}")
    if clip.status != "accepted":
        raise ClipError(f"clip {clip.id} is {clip.status}; only accepted clips can be retired")
    if clip.retired_at is not None:
        return False
    clip.retired_at, clip.retired_reason = utcnow(), reason
    session.flush()
    return True


def restore_clip(session: Session, clip_id: int) -> bool:
    """Put a retired clip back in the campaign; True if it changes, False if it was not
    retired. Its votes count again and its unvoted assignments are back in their queues."""
    clip = get_clip(session, clip_id)
    if clip.retired_at is None:
        return False
    clip.retired_at = clip.retired_reason = None
    session.flush()
    return True


def retire_clips(session: Session, ids, reason: str) -> BatchOutcome:
    """retire_clip for each id, in order; a refused id does not stop the others. An empty
    reason refuses the whole batch (ClipError) before any clip changes."""
    reason = clean_reason(reason, "the clips are retired")
    return each_clip(ids, lambda clip_id: retire_clip(session, clip_id, reason))


def restore_clips(session: Session, ids) -> BatchOutcome:
    return each_clip(ids, lambda clip_id: restore_clip(session, clip_id))


def stored_votes(session: Session, clip_ids) -> int:
    """How many votes are stored on these clips (a retired clip keeps them)."""
    ids = [int(c) for c in clip_ids]
    if not ids:
        return 0
    return session.scalar(select(func.count()).select_from(Vote)
                          .where(Vote.clip_id.in_(ids))) or 0


def retired_clips(session: Session, limit: int = 500) -> list[dict]:
    """Retired clips, most recently retired first: id, reason, when, votes stored."""
    votes = (select(Vote.clip_id, func.count().label("n")).group_by(Vote.clip_id).subquery())
    rows = session.execute(
        select(Clip.id, Clip.retired_reason, Clip.retired_at, func.coalesce(votes.c.n, 0))
        .outerjoin(votes, votes.c.clip_id == Clip.id)
        .where(Clip.retired_at.is_not(None))
        .order_by(Clip.retired_at.desc(), Clip.id.desc()).limit(limit)).all()
    return [{"clip_id": cid, "reason": reason, "retired_at": when, "votes": n}
            for cid, reason, when, n in rows]
