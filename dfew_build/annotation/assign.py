"""Give every cut clip n counted annotators, balancing the load; the order of each queue.

Rules (DESIGN.md §3, the annotation and campaign issues):
- a clip is assignable once it is cut (path set) and accepted, and not retired; with
  `require_faces`, only when preprocessing kept a face on it (a `kept` face track);
- an assignment of any source (`assigned`, or `imported` with votes) counts, unless its
  annotator is excluded: an excluded annotator's votes count nowhere, so the clip is topped
  up with another annotator (their assignment stays, with its vote);
- unvoted assignments of deactivated or excluded annotators are released and given to
  others; an assignment with a vote is never removed or moved;
- each clip gets what it is missing, from the active, non-excluded annotators not yet on
  it, least loaded first (load = their assignments on clips in the campaign), ties broken
  by a seeded random draw, so loads differ by at most one where the pool allows and a seed
  gives the same result;
- running it again adds nothing.

The queue order (`QueueOrder`) is not stored: the annotator page sorts each person's clips
by a seeded hash of (seed, annotator, clip) when it picks the next one, so a reload shows
the same clip, two annotators see their clips in different orders, and `[annotation] order
= "id"` in dfew.toml gives back ascending clip ids.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, exists, insert, select
from sqlalchemy.orm import Session

from dfew_build.db.models import Assignment, Clip, FaceTrack, GoldClip, Person, Vote, utcnow
from dfew_build.errors import AssignmentError, ConfigError

QUEUE_ORDERS = ("random", "id")


@dataclass
class AssignReport:
    per_clip: int
    clips: int = 0                 # clips that can be annotated (cut, accepted, not retired)
    added: int = 0                 # new assignments
    released: int = 0              # unvoted assignments of deactivated/excluded annotators removed
    topped_up: int = 0             # clips that got at least one new assignment
    loads: dict[str, int] = field(default_factory=dict)  # active annotator -> assignments
    require_faces: bool = False
    # With require_faces: clips left out because preprocessing has not run on them yet, or
    # did not keep a face; and unvoted assignments released from such clips.
    not_preprocessed: int = 0
    no_face: int = 0
    released_no_face: int = 0
    gold_rate: float = 0.0
    gold_added: int = 0            # gold-check assignments added (gold.gold_assignments)

    def as_dict(self) -> dict:
        spread = (max(self.loads.values()) - min(self.loads.values())) if self.loads else 0
        data = {"per_clip": self.per_clip, "clips": self.clips, "added": self.added,
                "released": self.released, "topped_up": self.topped_up,
                "annotators": len(self.loads), "load_spread": spread,
                "loads": dict(self.loads)}
        if self.require_faces:
            data.update(require_faces=True, not_preprocessed=self.not_preprocessed,
                        no_face=self.no_face, released_no_face=self.released_no_face)
        if self.gold_rate:
            data.update(gold_rate=self.gold_rate, gold_added=self.gold_added)
        return data


def _kept_face():
    return exists().where(FaceTrack.clip_id == Clip.id, FaceTrack.status == "kept")


def assignable_clips_query(require_faces: bool = False, include_gold: bool = False):
    """Ids of the clips that annotators work on: cut, accepted, not retired (and, with
    require_faces, with a kept face track). Gold (check) clips are left out unless
    `include_gold`: their votes count in no raters-per-clip total, so they are never topped
    up (gold.gold_assignments hands them out at the gold rate instead)."""
    query = select(Clip.id).where(Clip.path.is_not(None), Clip.status == "accepted",
                                  Clip.retired_at.is_(None))
    if not include_gold:
        query = query.where(~exists().where(GoldClip.clip_id == Clip.id))
    return query.where(_kept_face()) if require_faces else query


def _voted():
    return exists().where(and_(Vote.clip_id == Assignment.clip_id,
                               Vote.annotator_id == Assignment.annotator_id))


def release_inactive(session: Session) -> int:
    """Remove the unvoted assignments of people who are no longer annotating: deactivated,
    excluded, or not (any more) annotators."""
    not_annotating = select(Person.id).where(
        (Person.active.is_(False)) | (Person.role != "annotator")
        | Person.excluded_at.is_not(None))
    releasable = (select(Assignment.id).where(Assignment.annotator_id.in_(not_annotating),
                                              ~_voted()).limit(1))
    if session.scalar(releasable) is None:
        # Nothing to release: no DELETE, so no write lock is taken while `assign` plans
        # (the annotation server keeps taking votes meanwhile).
        return 0
    result = session.execute(
        delete(Assignment)
        .where(Assignment.annotator_id.in_(not_annotating), ~_voted())
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def _release_faceless(session: Session) -> int:
    """Remove unvoted assignments on clips in the campaign that have no kept face track."""
    faceless = (select(Clip.id).where(Clip.path.is_not(None), Clip.status == "accepted",
                                      Clip.retired_at.is_(None), ~_kept_face()))
    result = session.execute(
        delete(Assignment)
        .where(Assignment.clip_id.in_(faceless), ~_voted())
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def assign_clips(session: Session, per_clip: int, seed: int = 0, *,
                 require_faces: bool = False, only_clips=None,
                 commit_every: int | None = None, gold_rate: float = 0.0,
                 practice_clips: int = 0, practice_seed: int = 0) -> AssignReport:
    """Top every assignable clip up to `per_clip` counted annotators (distinct, and not
    excluded).

    require_faces: only clips whose preprocessing kept a face; unvoted assignments on the
    other clips in the campaign are released (they come back once a face is kept).
    only_clips: top up only these clip ids (e.g. those an exclusion or deactivation took a
    counted annotator from), leaving clips never assigned alone.
    Raises AssignmentError (and writes nothing, once the caller rolls back) when some
    clip cannot get enough distinct active annotators.
    commit_every: once every check has passed, commit after each this many new
    assignments, so a big assignment never holds the database's write lock for long while
    the annotation server takes votes (`dfew-build assign` does; a stopped run is finished
    by running it again).
    gold_rate: after the top-up, each annotator gets gold-check clips making up this share
    (0..0.5) of their assignments, none of their `practice_clips` practice clips (see
    dfew_build.annotation.gold); gold clips themselves are never topped up.
    """
    if per_clip < 1:
        raise AssignmentError(f"--per-clip must be at least 1, not {per_clip}")
    report = AssignReport(per_clip=per_clip, require_faces=require_faces)
    report.released = release_inactive(session)
    if require_faces:
        report.released_no_face = _release_faceless(session)
        _count_faceless(session, report)

    annotators = session.execute(
        select(Person.id, Person.name)
        .where(Person.role == "annotator", Person.active.is_(True),
               Person.excluded_at.is_(None))
        .order_by(Person.id)).all()
    names = {pid: name for pid, name in annotators}
    excluded = set(session.scalars(select(Person.id).where(Person.excluded_at.is_not(None))))
    clip_ids = list(session.scalars(assignable_clips_query(require_faces).order_by(Clip.id)))
    report.clips = len(clip_ids)
    in_campaign = set(session.scalars(assignable_clips_query()))

    on_clip: dict[int, set[int]] = defaultdict(set)   # everyone on the clip
    counted: dict[int, int] = defaultdict(int)        # assignments whose votes count
    load = {pid: 0 for pid in names}
    for clip_id, annotator_id in session.execute(
            select(Assignment.clip_id, Assignment.annotator_id)):
        on_clip[clip_id].add(annotator_id)
        if annotator_id not in excluded:
            counted[clip_id] += 1
        if annotator_id in load and clip_id in in_campaign:
            load[annotator_id] += 1

    wanted = None if only_clips is None else {int(c) for c in only_clips}
    short = [(cid, per_clip - counted[cid]) for cid in clip_ids
             if counted[cid] < per_clip and (wanted is None or cid in wanted)]
    if short:
        _check_pool(short, on_clip, counted, names, per_clip)

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
    step = commit_every or 5000
    for start in range(0, len(rows), step):
        session.execute(insert(Assignment), rows[start:start + step])
        if commit_every:
            session.commit()
    report.added = len(rows)
    report.topped_up = len({row["clip_id"] for row in rows})
    if gold_rate > 0:
        from dfew_build.annotation.gold import gold_assignments

        report.gold_rate = gold_rate
        report.gold_added = gold_assignments(session, gold_rate, seed, practice_clips,
                                             practice_seed)
        if commit_every:
            session.commit()
    report.loads = {names[pid]: count for pid, count in sorted(load.items())}
    return report


def _count_faceless(session: Session, report: AssignReport) -> None:
    campaign = assignable_clips_query().where(~_kept_face()).subquery()
    tracked = set(session.scalars(select(FaceTrack.clip_id).where(
        FaceTrack.clip_id.in_(select(campaign.c.id)))))
    left_out = set(session.scalars(select(campaign.c.id)))
    report.no_face = len(left_out & tracked)
    report.not_preprocessed = len(left_out - tracked)


def _check_pool(short, on_clip, counted, names, per_clip) -> None:
    active = set(names)
    for clip_id, missing in short:
        available = len(active - on_clip[clip_id])
        if available < missing:
            have = counted[clip_id]
            raise AssignmentError(
                f"clip {clip_id} needs {per_clip} distinct annotators but only "
                f"{have + available} can be on it ({len(names)} active annotator(s), {have} "
                f"already assigned); add annotators with `dfew-build people add NAME "
                f"--role annotator` or lower --per-clip (now {per_clip})")


def clips_of(session: Session, person_id: int) -> set[int]:
    """The clips a person holds assignments on (voted or not)."""
    return set(session.scalars(select(Assignment.clip_id)
                               .where(Assignment.annotator_id == person_id)))


@dataclass(frozen=True)
class QueueOrder:
    """The order in which an annotator's clips are shown.

    `random`: ascending by queue_key(seed, annotator, clip), a different fixed order for
    every annotator (order effects average out across the ten votes of a clip); `id`:
    ascending clip id, the same for everyone.
    """

    kind: str = "random"
    seed: int = 0

    def key(self, annotator_id: int, clip_id: int):
        return clip_id if self.kind == "id" else (queue_key(self.seed, annotator_id, clip_id),
                                                  clip_id)

    def sort(self, annotator_id: int, clip_ids) -> list[int]:
        return sorted(clip_ids, key=lambda clip_id: self.key(annotator_id, clip_id))

    def describe(self) -> str:
        return ("ascending clip id" if self.kind == "id"
                else f"random per annotator (seed {self.seed})")


def queue_key(seed: int, annotator_id: int, clip_id: int) -> int:
    """A 64-bit sort key: BLAKE2b of "seed/annotator/clip". Stable across processes and
    Python versions (unlike hash()), so every server worker and every reload agree."""
    digest = hashlib.blake2b(f"{int(seed)}/{int(annotator_id)}/{int(clip_id)}".encode("ascii"),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big")


def queue_order(config: dict) -> QueueOrder:
    """The queue order of dfew.toml: `[annotation] order` ("random", the default, or "id")
    and `[annotation] order_seed` (a whole number, default 0). ConfigError names a bad value."""
    section = config.get("annotation", {}) or {}
    kind = section.get("order", "random")
    seed = section.get("order_seed", 0)
    if kind not in QUEUE_ORDERS:
        raise ConfigError(f"dfew.toml: annotation.order = {kind!r} should be one of "
                          f"{', '.join(repr(k) for k in QUEUE_ORDERS)}; see docs/annotation.md")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"dfew.toml: annotation.order_seed = {seed!r} should be a whole "
                          "number; see docs/annotation.md")
    return QueueOrder(kind, seed)
