"""What `kappa`, `labels` and the report show, computed from the database.

Both views use every clip with at least MIN_COUNTED_VOTES (2) counted votes (a vote
counts when its clip is not retired and its annotator is not excluded, see
matrix.counted_votes). Clips may have different numbers of votes (a vendor file with 9 or
11, an excluded annotator, a replacement): agreement is Fleiss' kappa generalised to a
varying number of votes per clip plus Krippendorff's alpha (agreement.py; with equal
counts the statsmodels value, unchanged), and the single-label rule is l_k / n_i > r / n
(consensus.py). n = `[annotation] raters_per_clip` (DFEW: 10) or `--raters`. Every view
says how many clips had which number of votes and what was left out and why.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from dfew_build.errors import LabelsError
from dfew_build.labels.agreement import (DEFAULT_BOOTSTRAP, DEFAULT_CONFIDENCE, DEFAULT_SEED,
                                         fleiss_agreement)
from dfew_build.labels.consensus import DEFAULT_THRESHOLD, rule_text, single_labels
from dfew_build.labels.matrix import (COUNTED_RULE, MIN_COUNTED_VOTES, complete_rows,
                                      vote_accounting, vote_count_histogram, vote_matrix)
from dfew_build.labels.subset import clip_durations, table2, table2_records

SUBSETS = ("all", "single")
# An explicit --raters must be the vote count of at least this share of the used clips.
RATERS_MIN_SHARE = 0.5
SHOWN_COUNTS = 8


def raters_per_clip(config: dict) -> int:
    return int(config["annotation"]["raters_per_clip"])


def histogram_text(histogram: dict, limit: int = SHOWN_COUNTS) -> str:
    """'9 votes: 60 clips, 10 votes: 180 clips' (the most common counts first past
    `limit` distinct counts)."""
    items = sorted(((int(k), int(v)) for k, v in histogram.items()))
    shown = items
    if len(items) > limit:
        shown = sorted(sorted(items, key=lambda kv: -kv[1])[:limit])
    text = ", ".join(f"{k} vote{'s' if k != 1 else ''}: {v} clip{'s' if v != 1 else ''}"
                     for k, v in shown)
    if len(items) > len(shown):
        rest = sum(v for k, v in items if (k, v) not in shown)
        text += f" and {rest} clip(s) with {len(items) - len(shown)} other counts"
    return text


def _check_raters(raters: int, histogram: dict[int, int], used: int) -> None:
    matching = histogram.get(raters, 0)
    if matching < RATERS_MIN_SHARE * used:
        raise LabelsError(
            f"--raters {raters} matches {matching} of the {used} clip(s) with at least "
            f"{MIN_COUNTED_VOTES} counted votes ({histogram_text(histogram)}); --raters is "
            f"the number of votes a clip is meant to get (the n of the single-label rule "
            f"l_k / n_i > R / n), not a filter: every clip with at least {MIN_COUNTED_VOTES} "
            f"counted votes is used whatever its count. Pass the count most clips have, or "
            f"leave --raters out to use [annotation] raters_per_clip from dfew.toml")


def counted_table(session: Session, raters: int, matrix: pd.DataFrame | None = None, *,
                  check_raters: bool = False) -> tuple[pd.DataFrame, dict]:
    """The clips x 7 matrix of the clips with at least MIN_COUNTED_VOTES counted votes, and
    what it counts (JSON-able): counted votes per clip, clips and votes left out and why.

    `matrix`: the counted vote matrix when the caller already has it (saves the query).
    `check_raters`: refuse a `raters` that fewer than half of the clips have (a value the
    user typed; the configured n only sets the single-label share). Raises LabelsError
    when there is nothing to measure.
    """
    if raters < 1:
        raise LabelsError(f"the number of raters per clip must be at least 1, not {raters}")
    if matrix is None:
        matrix = vote_matrix(session)
    accounting = vote_accounting(session)
    if not len(matrix):
        if accounting.retired_clips or accounting.excluded_votes or accounting.gold_votes:
            raise LabelsError(
                "no counted votes: " + "; ".join(accounting.phrases()) + " (their votes are "
                "stored but not counted); bring clips back with `dfew-build clips restore` "
                "or annotators with `dfew-build people include`"
                + ("; gold check clips count only for gold accuracy (unmark them with "
                   "`dfew-build clips gold --remove IDS`)" if accounting.gold_votes else ""))
        raise LabelsError("there are no votes yet; import them with `dfew-build votes import "
                          "CSV` or collect them with `dfew-build serve`")
    totals = matrix.to_numpy().sum(axis=1)
    used = totals >= MIN_COUNTED_VOTES
    histogram = vote_count_histogram(totals[used])
    if not used.any():
        raise LabelsError(
            f"none of the {len(matrix)} clip(s) with counted votes has {MIN_COUNTED_VOTES} or "
            f"more yet ({histogram_text(vote_count_histogram(totals))}); agreement and labels "
            f"need at least {MIN_COUNTED_VOTES} votes per clip: wait for more votes")
    if check_raters:
        _check_raters(raters, histogram, int(used.sum()))
    fewer = int((~used).sum())
    coverage = {
        "raters_per_clip": raters,
        "counted_rule": COUNTED_RULE,
        "min_votes": MIN_COUNTED_VOTES,
        "clips_with_votes": int(len(matrix)),
        "clips_used": int(used.sum()),
        "vote_counts": {str(k): v for k, v in histogram.items()},
        "clips_with_raters_votes": histogram.get(raters, 0),
        "left_out_fewer_than_min_votes": fewer,
        "not_counted": accounting.as_dict(),
        "left_out_phrases": ([f"{fewer} clip(s) with fewer than {MIN_COUNTED_VOTES} counted "
                              "votes"] if fewer else []) + accounting.phrases(),
    }
    return matrix[used], coverage


def _check_threshold(threshold: int, raters: int) -> None:
    if threshold < 0:
        raise LabelsError(f"--threshold must be >= 0, not {threshold}")
    if threshold >= raters:
        raise LabelsError(f"--threshold {threshold} leaves no clip single-labelled: a label "
                          f"needs more than {threshold} of the {raters} votes; use a "
                          f"threshold below {raters} (DFEW: 6 of 10)")


def _complete_only(table: pd.DataFrame, raters: int) -> dict:
    """DFEW's figure for comparison: statsmodels' Fleiss' kappa on the clips with exactly
    `raters` votes."""
    complete, _ = complete_rows(table, raters)
    entry = {"n": raters, "N": int(len(complete)), "kappa": None, "undefined_reason": None}
    if len(complete):
        result = fleiss_agreement(complete.to_numpy(), bootstrap=0,
                                  categories=complete.columns)
        entry["kappa"] = result.overall.as_dict()["kappa"]
        entry["undefined_reason"] = result.overall.reason
    else:
        entry["undefined_reason"] = f"no clip has exactly {raters} counted votes"
    return entry


def kappa_view(session: Session, *, raters: int, subset: str = "all",
               threshold: int = DEFAULT_THRESHOLD, bootstrap: int = DEFAULT_BOOTSTRAP,
               seed: int = DEFAULT_SEED, confidence: float = DEFAULT_CONFIDENCE,
               matrix: pd.DataFrame | None = None, check_raters: bool = False) -> dict:
    """Fleiss' kappa and Krippendorff's alpha over all used clips or the single-labelled
    ones, as a dict (see counted_table for the counts it carries)."""
    if subset not in SUBSETS:
        raise LabelsError(f"unknown subset {subset!r}: use one of {', '.join(SUBSETS)}")
    if bootstrap < 0:
        raise LabelsError(f"--bootstrap must be >= 0 (0: no interval), not {bootstrap}")
    if not 0 < confidence < 1:
        raise LabelsError(f"--confidence must be between 0 and 1, not {confidence}")
    table, coverage = counted_table(session, raters, matrix, check_raters=check_raters)
    view = {"subset": subset, **coverage}
    if subset == "single":
        _check_threshold(threshold, raters)
        labels = single_labels(table, threshold, raters)
        view["threshold"] = threshold
        view["rule"] = rule_text(threshold, raters)
        view["not_single_labelled"] = len(table) - len(labels)
        table = table.loc[labels.index]
    result = fleiss_agreement(table.to_numpy(), bootstrap=bootstrap, seed=seed,
                              confidence=confidence, categories=table.columns)
    out = {**view, **result.as_dict()}
    if not result.equal_counts and len(table):
        out["complete_only"] = _complete_only(table, raters)
    return out


def votes_needed(threshold: int, raters: int, histogram: dict) -> dict[str, int]:
    """For each vote count n_i: the fewest votes for one emotion that make a single label
    (the least l with l * n > r * n_i)."""
    return {str(k): int(int(k) * threshold // raters + 1) for k in histogram}


def single_label_view(session: Session, *, raters: int,
                      threshold: int = DEFAULT_THRESHOLD,
                      matrix: pd.DataFrame | None = None,
                      check_raters: bool = False) -> tuple[dict, pd.Series]:
    """The single-label subset (clip id -> code 1..7) and its summary with Table 2."""
    _check_threshold(threshold, raters)
    table, coverage = counted_table(session, raters, matrix, check_raters=check_raters)
    labels = single_labels(table, threshold, raters)
    frame = table2(labels, clip_durations(session))
    totals = table.loc[labels.index].to_numpy().sum(axis=1)
    view = {**coverage, "threshold": threshold, "rule": rule_text(threshold, raters),
            "votes_needed": votes_needed(threshold, raters, coverage["vote_counts"]),
            "single_labelled": len(labels),
            "single_labelled_by_vote_count": {str(k): v for k, v in
                                              vote_count_histogram(totals).items()},
            "percent_single": round(100 * len(labels) / len(table), 2),
            "table2": table2_records(frame)}
    return view, labels
