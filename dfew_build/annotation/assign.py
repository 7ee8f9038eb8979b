"""Give every cut clip n distinct active annotators, balancing the load.

Rules (DESIGN.md §3, the annotation issue):
- a clip is assignable once it is cut (path set) and accepted;
- an assignment of any source (`assigned`, or `imported` with votes) counts;
- unvoted assignments of deactivated annotators are released and given to others;
  an assignment with a vote is never removed or moved;
- each clip gets what it is missing, from the active annotators not yet on it, least
  loaded first (load = all their assignments), ties broken by a seeded random draw, so
  loads differ by at most one where the pool allows and a seed gives the same result;
- running it again adds nothing.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, exists, insert, select
from sqlalchemy.orm import Session

from dfew_build.db.models import Assignment, Clip, Person, Vote, utcnow
from dfew_build.errors import AssignmentError


@dataclass
class AssignReport:
    per_clip: int
    clips: int = 0                 # clips that can be annotated (cut and accepted)
    added: int = 0                 # new assignments
    released: int = 0              # unvoted assignments of deactivated annotators removed
    loads: dict[str, int] = field(default_factory=dict)  # active annotator -> assignments

    def as_dict(self) -> dict:
        spread = (max(self.loads.values()) - min(self.loads.values())) if self.loads else 0
        return {"per_clip": self.per_clip, "clips": self.clips, "added": self.added,
                "released": self.released, "annotators": len(self.loads),
                "load_spread": spread, "loads": dict(self.loads)}


def assignable_clips_query():
    return select(Clip.id).where(Clip.path.is_not(None), Clip.status == "accepted")


def _voted():
    return exists().where(and_(Vote.clip_id == Assignment.clip_id,
                               Vote.annotator_id == Assignment.annotator_id))


def release_inactive(session: Session) -> int:
    """Remove the unvoted assignments of people who are no longer active annotators."""
    not_annotating = select(Person.id).where(
        (Person.active.is_(False)) | (Person.role != "annotator"))
    result = session.execute(
        delete(Assignment)
        .where(Assignment.annotator_id.in_(not_annotating), ~_voted())
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def assign_clips(session: Session, per_clip: int, seed: int = 0) -> AssignReport:
    """Top every assignable clip up to `per_clip` distinct active annotators.

    Raises AssignmentError (and writes nothing, once the caller rolls back) when some
    clip cannot get enough distinct active annotators.
    """
    if per_clip < 1:
        raise AssignmentError(f"--per-clip must be at least 1, not {per_clip}")
    report = AssignReport(per_clip=per_clip)
    report.released = release_inactive(session)

    annotators = session.execute(
        select(Person.id, Person.name)
        .where(Person.role == "annotator", Person.active.is_(True))
        .order_by(Person.id)).all()
    names = {pid: name for pid, name in annotators}
    clip_ids = list(session.scalars(assignable_clips_query().order_by(Clip.id)))
    report.clips = len(clip_ids)

    on_clip: dict[int, set[int]] = defaultdict(set)
    load = {pid: 0 for pid in names}
    for clip_id, annotator_id in session.execute(
            select(Assignment.clip_id, Assignment.annotator_id)):
        on_clip[clip_id].add(annotator_id)
        if annotator_id in load:
            load[annotator_id] += 1

    short = [(cid, per_clip - len(on_clip[cid])) for cid in clip_ids
             if len(on_clip[cid]) < per_clip]
    if short:
        _check_pool(short, on_clip, names, per_clip)

    rng = random.Random(seed)
    rows = []
    now = utcnow()
    for clip_id, missing in short:
        # One draw per candidate, in id order: the same state and seed give the same result.
        candidates = [(load[pid], rng.random(), pid) for pid in names
                      if pid not in on_clip[clip_id]]
        for _, _, pid in sorted(candidates)[:missing]:
            load[pid] += 1
            on_clip[clip_id].add(pid)
            rows.append({"clip_id": clip_id, "annotator_id": pid, "source": "assigned",
                         "assigned_at": now})
    for start in range(0, len(rows), 5000):
        session.execute(insert(Assignment), rows[start:start + 5000])
    report.added = len(rows)
    report.loads = {names[pid]: count for pid, count in sorted(load.items())}
    return report


def _check_pool(short, on_clip, names, per_clip) -> None:
    active = set(names)
    for clip_id, missing in short:
        available = len(active - on_clip[clip_id])
        if available < missing:
            have = len(on_clip[clip_id])
            raise AssignmentError(
                f"clip {clip_id} needs {per_clip} distinct annotators but only "
                f"{have + available} can be on it ({len(names)} active annotator(s), {have} "
                f"already assigned); add annotators with `dfew-build people add NAME "
                f"--role annotator` or lower --per-clip (now {per_clip})")

