"""The clips step of `dfew-build demo`: propose, confirm a few per movie, cut."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from dfew_build.clips.cut import cut_clips
from dfew_build.clips.library import confirm_clip
from dfew_build.clips.propose import propose_clips
from dfew_build.db.models import Clip
from dfew_build.errors import ClipError

DEMO_EXTRACTOR = "demo-extractor"
CONFIRM_PER_MOVIE = 2


def run_clips_demo(workspace, *, progress: bool = False, detector=None) -> dict:
    """Propose candidates on every ingested movie, confirm up to CONFIRM_PER_MOVIE per movie
    as DEMO_EXTRACTOR, cut every accepted clip. Running it again adds nothing."""
    if isinstance(workspace, (str, Path)):
        from dfew_build.workspace import open_workspace

        workspace = open_workspace(workspace)
    proposals = propose_clips(workspace, detector=detector, progress=progress)
    confirmed = 0
    with workspace.session() as session:
        candidates = list(session.scalars(select(Clip).where(
            Clip.source == "proposed", Clip.status == "candidate")
            .order_by(Clip.movie_id, Clip.start_s)))
        for clip in candidates:
            accepted = session.scalar(select(func.count(Clip.id)).where(
                Clip.movie_id == clip.movie_id, Clip.source == "proposed",
                Clip.status == "accepted"))
            if accepted >= CONFIRM_PER_MOVIE:
                continue
            try:
                with session.begin_nested():
                    confirm_clip(session, workspace.config, clip.id, extractor=DEMO_EXTRACTOR)
                confirmed += 1
            except ClipError:
                continue  # e.g. the movie is at its limit: leave it a candidate
        counts = dict(session.execute(
            select(Clip.status, func.count(Clip.id)).group_by(Clip.status)).all())
    cut = cut_clips(workspace, progress=progress)
    summary = proposals.summary()
    return {"movies_scanned": summary["proposed"], "proposed": summary["candidates"],
            "confirmed": confirmed, "candidates": counts.get("candidate", 0),
            "accepted": counts.get("accepted", 0), "cut": len(cut.cut),
            "already_cut": cut.already_cut, "failed": len(cut.failed) + summary["failed"]}
