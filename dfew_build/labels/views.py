"""What `kappa`, `labels` and the report show, computed from the database.

Both views use the clips that have exactly n votes (n = `[annotation] raters_per_clip`,
DFEW: 10): Fleiss' kappa assumes every subject has the same number of ratings, and the
single-label rule l_k > r is defined against n. Clips with fewer votes are counted and
left out; clips with more are an error naming them (see matrix.complete_rows).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from dfew_build.errors import LabelsError
from dfew_build.labels.agreement import (DEFAULT_BOOTSTRAP, DEFAULT_CONFIDENCE, DEFAULT_SEED,
                                         fleiss_agreement)
from dfew_build.labels.consensus import DEFAULT_THRESHOLD, single_labels
from dfew_build.labels.matrix import complete_rows, vote_matrix
from dfew_build.labels.subset import clip_durations, table2, table2_records

SUBSETS = ("all", "single")


def raters_per_clip(config: dict) -> int:
    return int(config["annotation"]["raters_per_clip"])


def rated_matrix(session: Session, raters: int,
                 matrix: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """The clips x 7 matrix of clips with exactly `raters` votes, and the counts behind it.
    `matrix`: the full vote matrix when the caller already has it (saves the query)."""
    if matrix is None:
        matrix = vote_matrix(session)
    if not len(matrix):
        raise LabelsError("there are no votes yet; import them with `dfew-build votes import "
                          "CSV` or collect them with `dfew-build serve`")
    complete, fewer = complete_rows(matrix, raters)
    if not len(complete):
        raise LabelsError(
            f"none of the {len(matrix)} clip(s) with votes has all {raters} votes yet, so "
            f"there is nothing to measure; wait for the remaining votes, or set [annotation] "
            f"raters_per_clip in dfew.toml (or --raters) if clips get fewer raters")
    counts = {"raters_per_clip": raters, "clips_with_votes": len(matrix),
              "left_out_fewer_votes": fewer}
    return complete, counts


def _check_threshold(threshold: int, raters: int) -> None:
    if threshold < 0:
        raise LabelsError(f"--threshold must be >= 0, not {threshold}")
    if threshold >= raters:
        raise LabelsError(f"--threshold {threshold} leaves no clip single-labelled: a label "
                          f"needs more than {threshold} of the {raters} votes; use a "
                          f"threshold below {raters} (DFEW: 6 of 10)")


def kappa_view(session: Session, *, raters: int, subset: str = "all",
               threshold: int = DEFAULT_THRESHOLD, bootstrap: int = DEFAULT_BOOTSTRAP,
               seed: int = DEFAULT_SEED, confidence: float = DEFAULT_CONFIDENCE,
               matrix: pd.DataFrame | None = None) -> dict:
    """Fleiss' kappa over all complete clips or the single-labelled ones, as a dict."""
    if subset not in SUBSETS:
        raise LabelsError(f"unknown subset {subset!r}: use one of {', '.join(SUBSETS)}")
    if bootstrap < 0:
        raise LabelsError(f"--bootstrap must be >= 0 (0: no interval), not {bootstrap}")
    if not 0 < confidence < 1:
        raise LabelsError(f"--confidence must be between 0 and 1, not {confidence}")
    complete, counts = rated_matrix(session, raters, matrix)
    view = {"subset": subset, **counts}
    if subset == "single":
        _check_threshold(threshold, raters)
        labels = single_labels(complete, threshold)
        view["threshold"] = threshold
        view["not_single_labelled"] = len(complete) - len(labels)
        complete = complete.loc[labels.index]
    result = fleiss_agreement(complete.to_numpy(), bootstrap=bootstrap, seed=seed,
                              confidence=confidence, categories=complete.columns)
    return {**view, **result.as_dict()}


def single_label_view(session: Session, *, raters: int,
                      threshold: int = DEFAULT_THRESHOLD,
                      matrix: pd.DataFrame | None = None) -> tuple[dict, pd.Series]:
    """The single-label subset (clip id -> code 1..7) and its summary with Table 2."""
    _check_threshold(threshold, raters)
    complete, counts = rated_matrix(session, raters, matrix)
    labels = single_labels(complete, threshold)
    frame = table2(labels, clip_durations(session))
    view = {**counts, "threshold": threshold, "complete": len(complete),
            "single_labelled": len(labels),
            "percent_single": round(100 * len(labels) / len(complete), 2),
            "table2": table2_records(frame)}
    return view, labels
