"""Annotator quality: agreement with the leave-one-out majority and Dawid-Skene confusion.

Placeholder persons: a DFEW release carries vote counts, not who voted, so its import
(`dfew-build import-dfew`) stores them as votes of placeholder persons whose names start
with `dfew-release:`. Their votes are evidence about the clips (they count in the
leave-one-out majorities and in the Dawid-Skene fit) but they are not people, so the
annotator views leave them out.

Only counted votes are used (matrix.counted_votes): an excluded annotator's votes and the
votes on retired clips are in neither the majorities nor the Dawid-Skene fit. Excluded
annotators are listed separately, with their reason and the votes that do not count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from dfew_build.db.models import Person, Vote
from dfew_build.emotions import EMOTIONS, NAMES
from dfew_build.labels.dawid_skene import DawidSkene
from dfew_build.labels.matrix import counted_votes, fetch_array, vote_accounting

PLACEHOLDER_PREFIX = "dfew-release:"
# A confusion row (a true emotion) is judged only when the annotator saw about this many
# clips of that emotion (expected count under the Dawid-Skene posteriors).
MIN_SUPPORT = 5.0
# A confusion cell is real when about one whole vote backs it (expected count); below that
# it is the Dawid-Skene smoothing, not something the annotator did.
CONFUSION_MIN_VOTES = 0.5
# Flags: a spammer's confusion rows hardly differ (mean total-variation distance between
# rows below this); a systematic confusion answers another emotion more often than the true one.
SPAMMER_INFORMATIVENESS = 0.3


def is_placeholder(name: str) -> bool:
    return name.startswith(PLACEHOLDER_PREFIX)


def vote_frame(session: Session) -> pd.DataFrame:
    """Every counted vote as columns task (clip id), worker (annotator name), label (code
    1..7)."""
    query = counted_votes(Vote.clip_id, Vote.annotator_id, Vote.emotion, session=session)
    data = fetch_array(session, query, 3)
    names = dict(session.execute(select(Person.id, Person.name)).all())
    if not len(data):
        return pd.DataFrame({"task": pd.Series([], dtype=np.int64),
                             "worker": pd.Series([], dtype=object),
                             "label": pd.Series([], dtype=np.int64)})
    ids, inverse = np.unique(data[:, 1], return_inverse=True)
    workers = np.array([names[int(i)] for i in ids], dtype=object)[inverse]
    return pd.DataFrame({"task": data[:, 0], "worker": workers, "label": data[:, 2]})


def leave_one_out_agreement(votes: pd.DataFrame) -> pd.DataFrame:
    """Per worker: votes, scored votes, and the share that equals the majority of the other
    votes on the same clip. A vote for one of k emotions tied for that majority scores 1/k;
    a vote that is alone on its clip is not scored."""
    task_index, _ = pd.factorize(votes["task"])
    worker_index, workers = pd.factorize(votes["worker"], sort=True)
    label = votes["label"].to_numpy() - 1
    T, K = int(task_index.max()) + 1 if len(task_index) else 0, len(EMOTIONS)
    counts = np.zeros((T, K), dtype=np.int64)
    np.add.at(counts, (task_index, label), 1)
    # Per clip: the top count m1 and how many emotions reach it, the runner-up m2 and its
    # multiplicity; enough to know each vote's standing once it is taken out.
    m1 = counts.max(axis=1)
    c1 = (counts == m1[:, None]).sum(axis=1)
    below = np.where(counts < m1[:, None], counts, -1)
    m2 = below.max(axis=1)
    c2 = (counts == m2[:, None]).sum(axis=1)
    own = counts[task_index, label]
    top, ties = m1[task_index], c1[task_index]
    second, second_ties = m2[task_index], c2[task_index]
    unique_top = (own == top) & (ties == 1)
    score = np.where(unique_top & (second < top - 1), 1.0,
                     np.where(unique_top & (second == top - 1), 1.0 / (1 + second_ties), 0.0))
    scored = counts.sum(axis=1)[task_index] > 1
    W = len(workers)
    total = np.bincount(worker_index, minlength=W)
    n_scored = np.bincount(worker_index, weights=scored, minlength=W)
    agree = np.bincount(worker_index, weights=score * scored, minlength=W)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(n_scored > 0, agree / n_scored, np.nan)
    return pd.DataFrame({"votes": total, "scored": n_scored.astype(np.int64),
                         "agreement": share}, index=pd.Index(workers, name="worker"))


def _support(model: DawidSkene, votes: pd.DataFrame) -> pd.DataFrame:
    """Expected number of each worker's votes per true label (worker x label)."""
    posteriors = model.probas_.reindex(votes["task"]).to_numpy()
    frame = pd.DataFrame(posteriors, columns=model.probas_.columns)
    frame["worker"] = votes["worker"].to_numpy()
    return frame.groupby("worker").sum()


def top_confusion(errors: np.ndarray, support: np.ndarray) -> dict | None:
    """An annotator's largest real confusion: the off-diagonal cell e[t, l] (t != l) with the
    highest rate, among cells backed by at least CONFUSION_MIN_VOTES expected votes
    (support[t] * e[t, l]; Dawid-Skene smoothing alone gives a few hundredths of a vote, so a
    cell below this is no confusion at all and a 0.00 is never reported).

    Rows (true emotions) the annotator saw at least MIN_SUPPORT times are searched first;
    only when none of them holds a real confusion are the rows with less support searched,
    and the result says so (`well_supported` False). None when the annotator made no
    confusion anywhere.

    errors: float [7, 7], rows true emotion, columns answered, rows sum to 1.
    support: float [7], expected number of the annotator's votes per true emotion.
    Returns {"true", "said" (names), "probability" (0..1), "support" (expected clips of the
    true emotion), "votes" (expected votes with this confusion), "well_supported"}.
    """
    errors, support = np.asarray(errors, dtype=float), np.asarray(support, dtype=float)
    votes = errors * support[:, None]
    real = (votes >= CONFUSION_MIN_VOTES) & ~np.eye(len(errors), dtype=bool)
    for rows in (support >= MIN_SUPPORT, support < MIN_SUPPORT):
        candidates = np.where(real & rows[:, None], errors, -1.0)
        t, said = np.unravel_index(candidates.argmax(), candidates.shape)
        if candidates[t, said] > 0:
            return {"true": NAMES[t], "said": NAMES[said],
                    "probability": round(float(errors[t, said]), 4),
                    "support": round(float(support[t]), 1),
                    "votes": round(float(votes[t, said]), 1),
                    "well_supported": bool(support[t] >= MIN_SUPPORT)}
    return None


def _describe(errors: np.ndarray, support: np.ndarray, priors: np.ndarray) -> dict:
    seen = support >= MIN_SUPPORT
    accuracy = float((priors * np.diag(errors)).sum())
    rows = errors[seen]
    informativeness = None
    if len(rows) >= 2:
        distances = np.abs(rows[:, None, :] - rows[None, :, :]).sum(axis=2) / 2
        informativeness = float(distances[np.triu_indices(len(rows), 1)].mean())
    top = top_confusion(errors, support)
    flags = []
    if informativeness is not None and informativeness < SPAMMER_INFORMATIVENESS:
        # A spammer's rows are noise; naming their "confusions" would only distract.
        return _summary(accuracy, informativeness, top, ["spammer: answers hardly depend on "
                                                         "the clip"], errors, support)
    for k in np.flatnonzero(seen):
        other = int(np.argmax(np.where(np.arange(len(errors)) == k, -1, errors[k])))
        if errors[k, other] > errors[k, k]:
            said, right = f"{errors[k, other]:.2f}", f"{errors[k, k]:.2f}"
            if said == right:  # a near tie: a third place shows which is larger
                said, right = f"{errors[k, other]:.3f}", f"{errors[k, k]:.3f}"
            flags.append(f"says {NAMES[other]} for {NAMES[k]} ({said} vs {right})")
    return _summary(accuracy, informativeness, top, flags, errors, support)


def _summary(accuracy, informativeness, top, flags, errors, support) -> dict:
    return {"ds_accuracy": round(accuracy, 4),
            "informativeness": None if informativeness is None else round(informativeness, 4),
            "top_confusion": top, "flags": flags,
            "confusion": np.round(errors, 4).tolist(),
            "support": np.round(support, 1).tolist()}


def annotator_view(session: Session, *, n_iter: int = 100, tol: float = 1e-6) -> dict:
    """Per real annotator: votes, leave-one-out agreement, Dawid-Skene accuracy, confusion
    matrix (rows: true emotion, columns: answered, DFEW order), flags, and gold accuracy
    (gold_votes, gold_correct, gold_accuracy 0..1 or None: their votes on gold check clips,
    which count nowhere else). Annotators with gold votes but no counted vote are listed in
    `gold_only_annotators`."""
    view = _annotator_view(session, n_iter=n_iter, tol=tol)
    _add_gold(session, view)
    return view


def _add_gold(session: Session, view: dict) -> None:
    from dfew_build.annotation.gold import accuracy_entry, gold_accuracy

    names = dict(session.execute(select(Person.id, Person.name)).all())
    gold = {names[pid]: entry for pid, entry in gold_accuracy(session).items()}
    listed = set()
    for entry in view["annotators"]:
        entry.update(gold.get(entry["annotator"], accuracy_entry(0, 0)))
        listed.add(entry["annotator"])
    view["gold_only_annotators"] = [{"annotator": name, **gold[name]} for name in sorted(gold)
                                    if name not in listed and not is_placeholder(name)]


def _annotator_view(session: Session, *, n_iter: int, tol: float) -> dict:
    votes = vote_frame(session)
    placeholders = sorted({w for w in votes["worker"].unique() if is_placeholder(w)})
    accounting = vote_accounting(session)
    view = {"emotions": list(NAMES), "placeholder_prefix": PLACEHOLDER_PREFIX,
            "excluded_placeholders": len(placeholders), "annotators": [],
            "not_counted": accounting.as_dict(), "not_counted_phrases": accounting.phrases()}
    real = votes[~votes["worker"].isin(placeholders)]
    if real.empty:
        if placeholders:
            why = (f" (the {len(placeholders)} '{PLACEHOLDER_PREFIX}*' placeholder raters of "
                   "a DFEW release import are not people)")
        elif accounting.phrases():
            why = f" that count (not counted: {'; '.join(accounting.phrases())})"
        else:
            why = "; import them with `dfew-build votes import CSV`"
        view["note"] = "no votes by real annotators yet" + why
        return view
    agreement = leave_one_out_agreement(votes)
    codes = [e.code for e in EMOTIONS]
    model = DawidSkene(n_iter=n_iter, tol=tol, labels=codes).fit(votes)
    support = _support(model, votes)
    priors = model.priors_.to_numpy()
    view["dawid_skene"] = {"iterations": model.n_iter_, "priors": np.round(priors, 4).tolist(),
                           "log_likelihood_per_vote": round(model.loss_history_[-1], 6)}
    for name in sorted(real["worker"].unique()):
        errors = model.errors_.loc[name].to_numpy()
        entry = {"annotator": name, "votes": int(agreement.at[name, "votes"]),
                 "loo_scored": int(agreement.at[name, "scored"]),
                 "loo_agreement": (None if np.isnan(agreement.at[name, "agreement"]) else
                                   round(float(agreement.at[name, "agreement"]), 4))}
        entry.update(_describe(errors, support.loc[name].to_numpy(), priors))
        view["annotators"].append(entry)
    return view
