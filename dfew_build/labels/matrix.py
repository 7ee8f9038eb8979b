"""The vote matrix n_ij (clips x 7): DFEW's l_1..l_7 per clip, derived from `vote` rows.

One grouped query; nothing stores a copy that could drift (DESIGN.md §3). The query
returns one row per clip with the seven counts (conditional sums), so 10M votes come
back as 1M short rows rather than ~2-3M (clip, emotion, count) triples.

Counted votes (DESIGN.md §3, issues 13 and 15): a vote counts when its clip is not retired
(`clip.retired_at IS NULL`), its clip is not a gold (check) clip (no `gold_clip` row: those
votes only measure gold accuracy, dfew_build.annotation.gold) and its annotator is not
excluded (`person.excluded_at IS NULL`). Retired clips and excluded annotators keep their rows and votes; every analysis
(agreement, labels, annotator quality, folds, exports) reads votes through
`counted_votes()` / `vote_matrix()` here, and `vote_accounting()` says what was left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dfew_build.db.models import Clip, GoldClip, Person, Vote
from dfew_build.emotions import EMOTIONS, NAMES, NUM_EMOTIONS
from dfew_build.errors import LabelsError

# Above this many ids the filter is applied in numpy after one full query: an SQL IN list
# binds one parameter per id, and SQLite allows at most 32,766.
MAX_IN_LIST = 10_000
# Agreement needs two ratings of a clip; a clip with fewer counted votes is left out of
# kappa, alpha, the single-label subset and folds.
MIN_COUNTED_VOTES = 2


def retired_clip_ids():
    """SELECT of the ids of retired clips (for IN / NOT IN)."""
    return select(Clip.id).where(Clip.retired_at.is_not(None))


def gold_clip_ids():
    """SELECT of the ids of gold (check) clips (for IN / NOT IN)."""
    return select(GoldClip.clip_id)


def excluded_person_ids():
    """SELECT of the ids of excluded annotators (for IN / NOT IN)."""
    return select(Person.id).where(Person.excluded_at.is_not(None))


def counted_filter(session: Session | None = None) -> tuple:
    """WHERE clauses that keep only counted votes in a query over `vote`.

    NOT IN over the (few) retired clips and excluded persons: SQLite and PostgreSQL
    evaluate each subquery once (a hashed set) and probe it once per vote. With a
    `session`, only the clauses that can remove a vote now are returned (none while nothing
    is retired or excluded, so the grouped scan over 10M votes costs what an unfiltered one
    does, about 1 s less); run the query in that same session.
    """
    clauses = []
    if session is None or session.execute(select(retired_clip_ids().exists())).scalar():
        clauses.append(Vote.clip_id.not_in(retired_clip_ids()))
    if session is None or session.execute(select(gold_clip_ids().exists())).scalar():
        clauses.append(Vote.clip_id.not_in(gold_clip_ids()))
    if session is None or session.execute(select(excluded_person_ids().exists())).scalar():
        clauses.append(Vote.annotator_id.not_in(excluded_person_ids()))
    return tuple(clauses)


def counted_votes(*columns, session: Session | None = None):
    """`select(*columns)` over `vote`, restricted to counted votes; default columns:
    clip_id, annotator_id, emotion. `session`: see counted_filter."""
    if not columns:
        columns = (Vote.clip_id, Vote.annotator_id, Vote.emotion)
    return select(*columns).select_from(Vote).where(*counted_filter(session))


def fetch_array(session: Session, query, columns: int, dtype=np.int64) -> np.ndarray:
    """A numeric query's rows as an array [rows, columns], read through the DBAPI cursor:
    SQLAlchemy Row objects cost ~10x more per row than plain tuples at this scale. Only
    for queries whose parameters are numbers (they are rendered as literals)."""
    connection = session.connection()
    sql = str(query.compile(dialect=connection.dialect,
                            compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        chunks = []
        while True:
            rows = cursor.fetchmany(200_000)
            if not rows:
                break
            chunks.append(np.array(rows, dtype=dtype).reshape(len(rows), columns))
    finally:
        cursor.close()
    return np.concatenate(chunks) if chunks else np.zeros((0, columns), dtype=dtype)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(np.zeros((0, NUM_EMOTIONS), dtype=np.int64), columns=list(NAMES),
                        index=pd.Index([], name="clip_id", dtype=np.int64))


def _frame(clip_ids: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(counts, columns=list(NAMES), index=pd.Index(clip_ids, name="clip_id"))


def vote_matrix(session: Session, clip_ids=None) -> pd.DataFrame:
    """Counted votes per clip and emotion: index `clip_id` (ascending), columns the 7 names
    in DFEW order, int64.

    Only clips with at least one counted vote appear (optionally restricted to
    `clip_ids`): a retired clip, or one voted on only by excluded annotators, has no row.
    """
    counts = [func.sum(case((Vote.emotion == e.code, 1), else_=0)) for e in EMOTIONS]
    query = (counted_votes(Vote.clip_id, *counts, session=session).group_by(Vote.clip_id)
             .order_by(Vote.clip_id))
    wanted = None
    if clip_ids is not None:
        wanted = np.unique(np.asarray(list(clip_ids), dtype=np.int64))
        if not len(wanted):
            return _empty()
        if len(wanted) <= MAX_IN_LIST:
            query = query.where(Vote.clip_id.in_(wanted.tolist()))
        else:
            query = query.where(Vote.clip_id.between(int(wanted[0]), int(wanted[-1])))
    data = fetch_array(session, query, 1 + NUM_EMOTIONS)
    if not len(data):
        return _empty()
    if wanted is not None and len(wanted) > MAX_IN_LIST:
        data = data[np.isin(data[:, 0], wanted)]
    return _frame(data[:, 0], data[:, 1:])


def matrix_from_counts(rows) -> pd.DataFrame:
    """(clip_id, emotion code 1..7, count) triples -> the clips x 7 matrix (rows of the same
    clip and emotion add up)."""
    if not hasattr(rows, "__len__"):
        rows = list(rows)
    data = np.asarray(rows if len(rows) else np.zeros((0, 3)), dtype=np.int64)
    if not len(data):
        return _empty()
    if data.ndim != 2 or data.shape[1] != 3:
        raise LabelsError(f"vote counts must be (clip_id, emotion, count) triples, "
                          f"got an array of shape {data.shape}")
    bad = (data[:, 1] < 1) | (data[:, 1] > NUM_EMOTIONS)
    if bad.any():
        raise LabelsError(f"emotion code {int(data[bad, 1][0])} for clip "
                          f"{int(data[bad, 0][0])} is not in 1..{NUM_EMOTIONS}")
    clip_ids, inverse = np.unique(data[:, 0], return_inverse=True)
    counts = np.zeros((len(clip_ids), NUM_EMOTIONS), dtype=np.int64)
    np.add.at(counts, (inverse, data[:, 1] - 1), data[:, 2])
    return _frame(clip_ids, counts)


def vote_count_histogram(totals) -> dict[int, int]:
    """{number of votes: number of clips} for an array of per-clip vote totals, ascending."""
    values, counts = np.unique(np.asarray(totals, dtype=np.int64), return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def complete_rows(matrix: pd.DataFrame, raters: int) -> tuple[pd.DataFrame, int]:
    """The clips with exactly `raters` votes, and how many clips have another count.

    DFEW's view of a table (every clip rated by the same n annotators); the agreement and
    label views use every clip with at least MIN_COUNTED_VOTES instead and report this
    subset for comparison.
    """
    if raters < 1:
        raise LabelsError(f"the number of raters per clip must be at least 1, not {raters}")
    full = matrix.to_numpy().sum(axis=1) == raters
    return matrix[full], int((~full).sum())


@dataclass
class VoteAccounting:
    """What the counted-vote rule leaves out of the analyses (all stored, none counted).

    retired_clips:            retired clips that hold votes
    retired_votes:            their votes
    excluded:                 excluded annotators: name, reason, votes on unretired clips
    excluded_votes:           those votes, all together
    clips_only_excluded:      unretired clips whose every vote is by an excluded annotator
    gold_clips:               gold (check) clips, not retired, that hold votes
    gold_votes:               their votes (used only for gold accuracy)
    """
    retired_clips: int = 0
    retired_votes: int = 0
    gold_clips: int = 0
    gold_votes: int = 0
    excluded: list[dict] = field(default_factory=list)
    excluded_votes: int = 0
    clips_only_excluded: int = 0

    def as_dict(self) -> dict:
        return {"rule": COUNTED_RULE, "retired_clips": self.retired_clips,
                "retired_votes": self.retired_votes, "excluded_annotators": self.excluded,
                "excluded_votes": self.excluded_votes,
                "clips_only_excluded_votes": self.clips_only_excluded,
                "gold_clips": self.gold_clips, "gold_votes": self.gold_votes}

    def phrases(self) -> list[str]:
        """Short phrases for an output line, e.g. '2 retired clip(s) (20 votes)'."""
        out = []
        if self.retired_clips:
            out.append(f"{self.retired_clips} retired clip(s) ({self.retired_votes} votes)")
        if self.gold_clips:
            out.append(f"{self.gold_clips} gold check clip(s) ({self.gold_votes} votes, used "
                       "only for gold accuracy)")
        if self.excluded:
            names = ", ".join(e["annotator"] for e in self.excluded[:5])
            more = f" and {len(self.excluded) - 5} more" if len(self.excluded) > 5 else ""
            out.append(f"{self.excluded_votes} vote(s) of {len(self.excluded)} excluded "
                       f"annotator(s) ({names}{more})")
        if self.clips_only_excluded:
            out.append(f"{self.clips_only_excluded} clip(s) voted on only by excluded "
                       "annotators")
        return out


COUNTED_RULE = ("a vote counts when its clip is not retired, its clip is not a gold check "
                "clip, and its annotator is not excluded")


def vote_accounting(session: Session) -> VoteAccounting:
    """Counts of the stored votes that do not count, by reason (a few small queries over
    the retired clips and excluded persons; no scan of all votes)."""
    retired = retired_clip_ids()
    votes, clips = session.execute(
        select(func.count(Vote.id), func.count(func.distinct(Vote.clip_id)))
        .where(Vote.clip_id.in_(retired))).one()
    result = VoteAccounting(retired_clips=int(clips), retired_votes=int(votes))
    gold_votes, gold_clips = session.execute(
        select(func.count(Vote.id), func.count(func.distinct(Vote.clip_id)))
        .where(Vote.clip_id.in_(gold_clip_ids()), Vote.clip_id.not_in(retired))).one()
    result.gold_clips, result.gold_votes = int(gold_clips), int(gold_votes)
    # Below, "unretired" also means "not gold": each left-out vote is counted once.
    retired = select(Clip.id).where(Clip.retired_at.is_not(None)).union(gold_clip_ids())
    people = session.execute(
        select(Person.name, Person.excluded_reason, Person.excluded_at)
        .where(Person.excluded_at.is_not(None)).order_by(Person.name)).all()
    if not people:
        return result
    per_person = dict(session.execute(
        select(Person.name, func.count(Vote.id)).join(Vote, Vote.annotator_id == Person.id)
        .where(Person.excluded_at.is_not(None), Vote.clip_id.not_in(retired))
        .group_by(Person.name)).all())
    result.excluded = [{"annotator": name, "reason": reason,
                        "excluded_at": at.isoformat() if at is not None else None,
                        "votes": int(per_person.get(name, 0))} for name, reason, at in people]
    result.excluded_votes = sum(e["votes"] for e in result.excluded)
    excluded = excluded_person_ids()
    own = Vote.__table__.alias("own")
    counted_elsewhere = (select(Vote.id).where(Vote.clip_id == own.c.clip_id,
                                               Vote.annotator_id.not_in(excluded)).exists())
    result.clips_only_excluded = int(session.scalar(
        select(func.count(func.distinct(own.c.clip_id)))
        .where(own.c.annotator_id.in_(excluded), own.c.clip_id.not_in(retired),
               ~counted_elsewhere)) or 0)
    return result
