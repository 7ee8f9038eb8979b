"""Queries over preprocessing results (the face_track table)."""

from __future__ import annotations

from sqlalchemy import select

from dfew_build.db.models import FaceTrack


def list_face_tracks(workspace, status: str | None = None) -> list[dict]:
    with workspace.session() as session:
        query = select(FaceTrack).order_by(FaceTrack.clip_id, FaceTrack.detector)
        if status:
            query = query.where(FaceTrack.status == status)
        return [{"clip_id": t.clip_id, "detector": t.detector, "status": t.status,
                 "frames_total": t.frames_total, "frames_with_face": t.frames_with_face,
                 "face_rate": t.face_rate, "reason": t.reason, "storage": t.storage}
                for t in session.scalars(query)]


def face_counts(workspace) -> dict:
    """How many clips have each status (any detector)."""
    counts = {"kept": 0, "dropped_low_face_rate": 0, "failed": 0}
    for row in list_face_tracks(workspace):
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts
