"""Agreement: Fleiss' kappa, per-category kappa, a bootstrap interval, Landis & Koch bands.

Fleiss' kappa itself comes from `statsmodels.stats.inter_rater.fleiss_kappa`. The
per-category kappa is Fleiss (1971), eq. 9 of his paper and DESIGN.md §6:

    kappa_j = 1 - sum_i n_ij (n - n_ij) / (N n (n - 1) p_j q_j),  q_j = 1 - p_j

The interval is a percentile bootstrap over clips (not the interval under the null
hypothesis kappa = 0 that textbooks quote): clips are resampled with replacement, B
times, with a seeded generator. Kappa depends on a clip only through its vote pattern
(its row of counts), so a resample is drawn as multinomial counts of the distinct patterns
(at most 8,008 for 10 raters and 7 emotions) - the same distribution as resampling the
clips one by one, at a cost that does not grow with the number of clips.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dfew_build.emotions import NAMES
from dfew_build.errors import LabelsError

DEFAULT_BOOTSTRAP = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0
BANDS = ((0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial"))


def landis_koch(kappa: float | None) -> str | None:
    """Landis & Koch (1977): <0 poor, <=.20 slight, <=.40 fair, <=.60 moderate,
    <=.80 substantial, else almost perfect."""
    if kappa is None or not np.isfinite(kappa):
        return None
    if kappa < 0:
        return "poor"
    for upper, band in BANDS:
        if kappa <= upper:
            return band
    return "almost perfect"


@dataclass
class Kappa:
    """One kappa with its interval; `value` is None when kappa is undefined (`reason` says
    why)."""
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    reason: str | None = None

    @property
    def band(self) -> str | None:
        return landis_koch(self.value)

    def as_dict(self) -> dict:
        return {"kappa": _round(self.value), "ci_low": _round(self.ci_low),
                "ci_high": _round(self.ci_high), "band": self.band,
                "undefined_reason": self.reason}


@dataclass
class AgreementResult:
    N: int                        # clips (subjects)
    n: int                        # ratings per clip
    categories: tuple[str, ...]
    overall: Kappa
    proportions: list[float]      # p_j
    per_category: list[Kappa]
    bootstrap: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"N": self.N, "n": self.n, "overall": self.overall.as_dict(),
                "per_category": [{"emotion": name, "code": code, "p": _round(p),
                                  **kappa.as_dict()}
                                 for code, (name, p, kappa) in enumerate(
                                     zip(self.categories, self.proportions,
                                         self.per_category), start=1)],
                "bootstrap": self.bootstrap,
                "method": "Fleiss' kappa: statsmodels.stats.inter_rater.fleiss_kappa "
                          "(method='fleiss'); per-category kappa: Fleiss (1971)"}


def _round(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _undefined_reason(table: np.ndarray, n: int, categories) -> str | None:
    if len(table) == 0:
        return "no clips to measure agreement on"
    if n < 2:
        return (f"each clip has {n} rating; agreement between raters needs at least 2 "
                "ratings per clip")
    used = np.flatnonzero(table.sum(axis=0))
    if len(used) == 1:
        return (f"every vote is for one emotion ({categories[used[0]]}): observed and chance "
                "agreement are both 1, so kappa = (P - Pe) / (1 - Pe) is 0/0, undefined")
    return None


def _category_kappas(weights: np.ndarray, patterns: np.ndarray, n: int) -> np.ndarray:
    """Per-category kappa for each row of `weights` (clip counts per pattern): [B, K]."""
    total = weights.sum(axis=1, keepdims=True).astype(float)           # N per replicate
    p = weights @ patterns / (total * n)
    disagreement = weights @ (patterns * (n - patterns))
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - disagreement / (total * n * (n - 1) * p * (1 - p))


def _overall_kappas(weights: np.ndarray, patterns: np.ndarray, n: int) -> np.ndarray:
    total = weights.sum(axis=1).astype(float)
    agreement = ((patterns ** 2).sum(axis=1) - n) / (n * (n - 1))       # P_i per pattern
    p_bar = weights @ agreement / total
    p = weights @ patterns / (total[:, None] * n)
    p_e = (p ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p_e < 1 - 1e-12, (p_bar - p_e) / (1 - p_e), np.nan)


def _patterns(table: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of table and how many clips have each."""
    k = table.shape[1]
    if (n + 1) ** k < 2 ** 62:  # a row as one integer in base n + 1: a fast 1-D unique
        codes = table @ ((n + 1) ** np.arange(k, dtype=np.int64))
        _, first, counts = np.unique(codes, return_index=True, return_counts=True)
        return table[first], counts
    patterns, counts = np.unique(table, axis=0, return_counts=True)
    return patterns, counts


def fleiss_agreement(table, *, bootstrap: int = DEFAULT_BOOTSTRAP,
                     confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED,
                     categories=NAMES) -> AgreementResult:
    """Agreement of an N x K table of counts in which every row sums to the same n.

    bootstrap = 0 gives no interval. Undefined kappas (one rater, one category used, a
    category nobody chose) are None with a reason, never NaN.
    """
    table = np.asarray(table, dtype=np.int64)
    N, K = table.shape
    n = int(table[0].sum()) if N else 0
    if N and (table.sum(axis=1) != n).any():
        raise LabelsError("every row of the table must hold the same number of ratings")
    categories = tuple(categories)
    proportions = (table.sum(axis=0) / (N * n)).tolist() if N and n else [0.0] * K
    reason = _undefined_reason(table, n, categories)
    if reason:
        per = [Kappa(None, reason=reason) for _ in range(K)]
        return AgreementResult(N, n, categories, Kappa(None, reason=reason), proportions, per,
                               {"replicates": 0})

    from statsmodels.stats.inter_rater import fleiss_kappa

    overall = Kappa(float(fleiss_kappa(table, method="fleiss")))
    patterns, counts = _patterns(table, n)
    per_values = _category_kappas(counts[None, :], patterns, n)[0]
    per = []
    for j, value in enumerate(per_values):
        if proportions[j] == 0:
            per.append(Kappa(None, reason=f"no vote for {categories[j]}"))
        elif proportions[j] == 1:
            per.append(Kappa(None, reason=f"every vote is for {categories[j]}"))
        else:
            per.append(Kappa(float(value)))

    info = {"replicates": int(bootstrap), "seed": int(seed), "confidence": confidence,
            "method": "percentile; clips resampled with replacement"}
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        weights = rng.multinomial(N, counts / N, size=bootstrap)
        tail = (1 - confidence) / 2 * 100
        replicates = _overall_kappas(weights, patterns, n)
        info["undefined_replicates"] = int(np.isnan(replicates).sum())
        if info["undefined_replicates"] < bootstrap:
            overall.ci_low, overall.ci_high = np.nanpercentile(replicates, [tail, 100 - tail])
        category_replicates = _category_kappas(weights, patterns, n)
        for j, kappa in enumerate(per):
            column = category_replicates[:, j]
            if kappa.value is not None and np.isfinite(column).any():
                kappa.ci_low, kappa.ci_high = np.nanpercentile(column, [tail, 100 - tail])
    return AgreementResult(N, n, categories, overall, proportions, per, info)
