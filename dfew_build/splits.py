"""Folds: DFEW's k-fold protocol over the single-labelled clips (DESIGN.md §5).

Only counted votes decide which clips are split and by which label (labels.matrix): a
retired clip leaves the candidates, and a stored scheme that still holds one says so
(`save_folds` names it; `folds --replace` rebuilds the scheme without it).

Stratified assignment deals each class's clips, in a seeded random order, round-robin over
the folds with one counter running across the classes: fold sizes then differ by at most one
and so does every class's count per fold. `group_by="movie"` keeps all clips of a movie in
one fold (no actor seen in both train and test) and reports the imbalance that costs.

Leakage (dfew_build.dedup): overlapping clips of one movie, and, when a workspace is given,
clips with near-duplicate footage (a re-encode of a movie is another movie by fingerprint)
are linked; linked clips are kept in one fold (whole groups are then assigned as with
`group_by`), unless `allow_leakage`. Without links the folds are exactly the stratified
(or movie-grouped) ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dfew_build.db.models import Clip, FaceTrack, Fold
from dfew_build.dedup import Leakage, find_leakage, link_groups
from dfew_build.emotions import NAMES, NUM_EMOTIONS
from dfew_build.errors import SplitError
from dfew_build.labels.consensus import (DEFAULT_RATERS, DEFAULT_THRESHOLD, share_text,
                                         single_labels)
from dfew_build.labels.matrix import MIN_COUNTED_VOTES, vote_accounting, vote_matrix

DEFAULT_SCHEME = "default"
SUBSETS = ("single", "all")
GROUP_BY = ("movie",)


@dataclass
class FoldPlan:
    scheme: str
    k: int
    seed: int
    group_by: str | None
    folds: pd.Series                      # clip_id -> fold 1..k
    labels: pd.Series                     # clip_id -> emotion code 1..7
    left_out: dict[str, int] = field(default_factory=dict)  # reason -> clip count
    status: str = "created"               # created | unchanged | replaced
    retired_dropped: list[int] = field(default_factory=list)  # retired clips a replace removed
    leakage: Leakage = field(default_factory=Leakage)
    allow_leakage: bool = False
    groups: dict[str, list[int]] = field(default_factory=dict)  # linked clips kept together

    def split_links(self):
        """Links (near-duplicates, overlaps) whose clips lie in different folds."""
        return self.leakage.split(self.folds)

    def table(self) -> pd.DataFrame:
        """Clips per fold and emotion (DFEW order), with a size column."""
        counts = pd.crosstab(self.folds, self.labels.reindex(self.folds.index))
        counts = counts.reindex(index=range(1, self.k + 1),
                                columns=range(1, NUM_EMOTIONS + 1), fill_value=0)
        counts.columns = list(NAMES)
        counts.index.name = "fold"
        counts.insert(0, "size", counts.sum(axis=1))
        return counts

    def imbalance(self) -> dict[str, int]:
        """Largest spread between folds: total size, and the worst single class."""
        table = self.table()
        spread = table.max() - table.min()
        return {"size": int(spread["size"]),
                "per_class": int(spread.drop("size").max()) if len(spread) > 1 else 0}

    def as_dict(self) -> dict:
        table = self.table()
        return {"scheme": self.scheme, "k": self.k, "seed": self.seed,
                "group_by": self.group_by, "status": self.status,
                "clips": int(len(self.folds)), "left_out": self.left_out,
                "retired_dropped": self.retired_dropped,
                "imbalance": self.imbalance(),
                "leakage": {**self.leakage.as_dict(), "allowed": self.allow_leakage,
                            "groups": [members for _, members in sorted(self.groups.items())],
                            "split_links": len(self.split_links())},
                "folds": [{"fold": int(f), **{c: int(v) for c, v in row.items()}}
                          for f, row in table.iterrows()]}


def candidate_labels(session: Session, *, subset: str = "single",
                     threshold: int = DEFAULT_THRESHOLD, raters: int = DEFAULT_RATERS,
                     require_kept: bool = True) -> tuple[pd.Series, dict[str, int]]:
    """The clips to split, with the label used for stratification, and what was left out.

    Counted votes only, on clips with at least MIN_COUNTED_VOTES of them. `single`:
    DFEW's single-labelled clips (l_k / n_i > threshold / raters). `all`: every such clip,
    stratified by its plurality vote. With `require_kept`, only clips that preprocessing
    kept (a face_track row with status `kept`) are used, as DFEW did.
    """
    if subset not in SUBSETS:
        raise SplitError(f"unknown subset {subset!r}: use one of {', '.join(SUBSETS)}")
    matrix = vote_matrix(session)
    left_out: dict[str, int] = {}
    accounting = vote_accounting(session)
    if accounting.retired_clips:
        left_out["retired (dfew-build clips retire)"] = accounting.retired_clips
    if accounting.gold_clips:
        left_out["gold check clips (dfew-build clips gold)"] = accounting.gold_clips
    if accounting.clips_only_excluded:
        left_out["voted on only by excluded annotators"] = accounting.clips_only_excluded
    totals = matrix.to_numpy().sum(axis=1)
    if (totals < MIN_COUNTED_VOTES).any():
        left_out[f"with fewer than {MIN_COUNTED_VOTES} counted votes"] = \
            int((totals < MIN_COUNTED_VOTES).sum())
    matrix = matrix[totals >= MIN_COUNTED_VOTES]
    if subset == "single":
        labels = single_labels(matrix, threshold, raters)
        if len(matrix) > len(labels):
            left_out[f"not single-labelled (no emotion with more than {threshold} of {raters} "
                     f"votes, i.e. more than {share_text(threshold, raters)} of the clip's "
                     "counted votes)"] = len(matrix) - len(labels)
    else:
        labels = pd.Series(matrix.to_numpy().argmax(axis=1) + 1, index=matrix.index,
                           name="label").astype("int64")
    if require_kept and len(labels):
        kept = set(session.scalars(select(FaceTrack.clip_id)
                                   .where(FaceTrack.status == "kept")).all())
        mask = labels.index.isin(list(kept))
        if (~mask).sum():
            left_out["not kept by preprocessing (dfew-build preprocess)"] = int((~mask).sum())
        labels = labels[mask]
    return labels.sort_index(), left_out


def retired_in_scheme(session: Session, scheme: str) -> list[int]:
    """Ids of the retired clips a stored scheme holds (ascending)."""
    return list(session.scalars(
        select(Fold.clip_id).join(Clip, Clip.id == Fold.clip_id)
        .where(Fold.scheme == scheme, Clip.retired_at.is_not(None))
        .order_by(Fold.clip_id)).all())


def stratified_folds(labels: pd.Series, k: int, seed: int) -> pd.Series:
    """Round-robin over the folds through the classes, each shuffled by the seed."""
    rng = np.random.default_rng(seed)
    order: list[int] = []
    for code in sorted(labels.unique()):
        members = labels.index[labels == code].to_numpy()
        order.extend(rng.permutation(np.sort(members)).tolist())
    # A seeded rotation so fold 1 does not always get the extra clip of the first class.
    offset = int(rng.integers(k))
    folds = [(offset + position) % k + 1 for position in range(len(order))]
    return pd.Series(folds, index=pd.Index(order, name="clip_id"), name="fold").sort_index()


def grouped_folds(labels: pd.Series, groups: pd.Series, k: int, seed: int) -> pd.Series:
    """Whole groups to folds: largest first, each to the fold whose size and class counts
    fall furthest below the ideal share (greedy; ties broken by the seed)."""
    rng = np.random.default_rng(seed)
    classes = sorted(labels.unique())
    by_group = pd.crosstab(groups, labels).reindex(columns=classes, fill_value=0)
    keys = by_group.index.to_numpy()
    sizes = by_group.sum(axis=1).to_numpy()
    order = np.lexsort((rng.random(len(keys)), -sizes))
    ideal_size = len(labels) / k
    ideal_class = by_group.sum(axis=0).to_numpy() / k
    fold_counts = np.zeros((k, len(classes)))
    fold_of_group: dict = {}
    for i in order:
        counts = by_group.iloc[i].to_numpy()
        after = fold_counts + counts
        # Squared overshoot of the size and of each class after adding this group.
        cost = ((after.sum(axis=1) - ideal_size) ** 2
                + ((after - ideal_class) ** 2).sum(axis=1) / max(len(classes), 1))
        cost -= ((fold_counts.sum(axis=1) - ideal_size) ** 2
                 + ((fold_counts - ideal_class) ** 2).sum(axis=1) / max(len(classes), 1))
        best = int(np.flatnonzero(cost == cost.min())[rng.integers((cost == cost.min()).sum())])
        fold_counts[best] += counts
        fold_of_group[keys[i]] = best + 1
    return pd.Series(groups.map(fold_of_group).astype("int64").to_numpy(),
                     index=labels.index, name="fold")


def leakage_groups(session: Session, clip_ids, *, workspace=None, group_by: str | None = None,
                   allow_leakage: bool = False, jobs: int | None = None,
                   progress: bool = False) -> tuple[Leakage, dict[int, str]]:
    """The leakage links between the clips, and the group each clip must share a fold with
    (its movie with `group_by="movie"`, plus every clip it is linked to unless
    `allow_leakage`): clip id -> group name."""
    ids = [int(c) for c in clip_ids]
    leakage = find_leakage(session, ids, workspace=workspace, jobs=jobs, progress=progress)
    base: dict[int, str] | None = None
    if group_by == "movie":
        movie_ids = dict(session.execute(select(Clip.id, Clip.movie_id)
                                         .where(Clip.id.in_(ids))).all())
        # Clips without a movie (imported releases) are groups of their own.
        base = {c: str(movie_ids[c]) if movie_ids.get(c) is not None else f"clip{c}"
                for c in ids}
    return leakage, link_groups(ids, [] if allow_leakage else leakage.links, base)


def plan_folds(session: Session, *, k: int = 5, scheme: str = DEFAULT_SCHEME, seed: int = 0,
               group_by: str | None = None, subset: str = "single",
               threshold: int = DEFAULT_THRESHOLD, raters: int = DEFAULT_RATERS,
               require_kept: bool = True, workspace=None, allow_leakage: bool = False,
               jobs: int | None = None, progress: bool = False) -> FoldPlan:
    """Folds for the candidate clips (candidate_labels).

    workspace: where clip and movie files are read for the near-duplicate check (frames
        hashed once, cached in WS/cache); None checks only overlaps of one movie's clips.
    allow_leakage: report links but do not keep linked clips together.
    Raises SplitError for a bad option, or fewer clips (or groups of linked clips) than k.
    """
    if k < 2:
        raise SplitError(f"--k must be at least 2, got {k}")
    if group_by is not None and group_by not in GROUP_BY:
        raise SplitError(f"unknown --group-by {group_by!r}: use one of {', '.join(GROUP_BY)}")
    labels, left_out = candidate_labels(session, subset=subset, threshold=threshold,
                                        raters=raters, require_kept=require_kept)
    if len(labels) < k:
        reasons = "; ".join(f"{n} {why}" for why, n in left_out.items()) or "no votes yet"
        raise SplitError(
            f"only {len(labels)} clip(s) can be split, fewer than k={k} folds ({reasons}); "
            "import votes (dfew-build votes import), run dfew-build preprocess, or use "
            "--subset all / --include-unprocessed / a smaller --k")
    leakage, group_of = leakage_groups(session, labels.index, workspace=workspace,
                                       group_by=group_by, allow_leakage=allow_leakage,
                                       jobs=jobs, progress=progress)
    links = [] if allow_leakage else leakage.links
    groups = pd.Series([group_of[int(c)] for c in labels.index], index=labels.index)
    members: dict[str, list[int]] = {}
    for clip_id, name in group_of.items():
        members.setdefault(name, []).append(clip_id)
    linked = {name: sorted(ids) for name, ids in members.items()
              if len(ids) > 1 and any(link.a in ids for link in links)}
    if groups.nunique() < k:
        why = ["every movie's clips are kept in one fold"] if group_by else []
        if linked:
            why.append(f"{len(links)} near-duplicate or overlapping pair(s) keep "
                       f"{sum(len(v) for v in linked.values())} clips in {len(linked)} "
                       "group(s)")
        raise SplitError(
            f"only {groups.nunique()} group(s) of clips can be split, fewer than k={k} folds "
            f"({'; '.join(why)}); use a smaller --k"
            f"{', or --allow-leakage to split linked clips anyway' if linked else ''}")
    if group_by == "movie" or linked:
        folds = grouped_folds(labels, groups.astype(str), k, seed)
    else:
        folds = stratified_folds(labels, k, seed)
    return FoldPlan(scheme, k, seed, group_by, folds, labels, left_out, leakage=leakage,
                    allow_leakage=allow_leakage, groups=linked)


def save_folds(session: Session, plan: FoldPlan, *, replace: bool = False) -> FoldPlan:
    """Store a plan under its scheme. An identical stored scheme is left alone; a different
    one is only overwritten with `replace` (models trained on it would no longer match).
    A stored scheme holding retired clips is never identical to a plan (plans leave retired
    clips out): the refusal names them, and `replace` records them in `retired_dropped`."""
    stored = load_folds(session, plan.scheme, missing_ok=True)
    if len(stored):
        if stored.sort_index().equals(plan.folds.sort_index()):
            plan.status = "unchanged"
            return plan
        retired = retired_in_scheme(session, plan.scheme)
        if not replace:
            held = ""
            if retired:
                held = (f", {len(retired)} of them retired: "
                        f"{', '.join(str(c) for c in retired[:10])}"
                        f"{' and more' if len(retired) > 10 else ''}")
            leaking = plan.leakage.split(stored)
            if leaking and not plan.allow_leakage:
                held += (f"; they put {len(leaking)} near-duplicate or overlapping pair(s) of "
                         "clips in different folds")
            raise SplitError(
                f"scheme {plan.scheme!r} already holds different folds ({len(stored)} clips"
                f"{held}); pass --replace to overwrite it"
                f"{' without the retired clips' if retired else ''}, or --scheme NAME to "
                "store a new scheme")
        session.execute(delete(Fold).where(Fold.scheme == plan.scheme))
        plan.status = "replaced"
        plan.retired_dropped = retired
    session.add_all(Fold(clip_id=int(c), scheme=plan.scheme, fold=int(f))
                    for c, f in plan.folds.items())
    session.flush()
    return plan


def load_folds(session: Session, scheme: str = DEFAULT_SCHEME, *,
               missing_ok: bool = False) -> pd.Series:
    """clip_id -> fold for a stored scheme."""
    rows = session.execute(select(Fold.clip_id, Fold.fold).where(Fold.scheme == scheme)).all()
    if not rows and not missing_ok:
        known = list_schemes(session)
        hint = f" (stored schemes: {', '.join(known)})" if known else ""
        raise SplitError(f"no folds stored for scheme {scheme!r}{hint}; "
                         "run `dfew-build folds` first")
    series = pd.Series({int(c): int(f) for c, f in rows}, name="fold", dtype="int64")
    series.index.name = "clip_id"
    return series.sort_index()


def list_schemes(session: Session) -> list[str]:
    return list(session.scalars(select(Fold.scheme).distinct().order_by(Fold.scheme)).all())
