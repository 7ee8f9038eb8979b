"""Agreement: Fleiss' kappa (fixed or varying votes per clip), per-category kappa,
Krippendorff's alpha (nominal), bootstrap intervals, Landis & Koch bands.

Notation: a table n_ij of N clips x K emotions, n_i = sum_j n_ij the clip's (counted)
votes, every n_i >= 2.

* Every clip has the same n (DFEW: 10): Fleiss' kappa is
  `statsmodels.stats.inter_rater.fleiss_kappa(table, method="fleiss")`, unchanged (Fleiss
  1971).
* Varying n_i: Fleiss' kappa generalised to a varying number of raters per subject, with
  each clip's agreement over its own pairs of votes and chance agreement from the pooled
  category shares:

      P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)),     P_bar = (1/N) sum_i P_i
      p_j = sum_i n_ij / sum_i n_i,                      P_e   = sum_j p_j^2
      kappa = (P_bar - P_e) / (1 - P_e)

  This is Fleiss (1971) with n replaced by n_i in each clip's P_i. The observed agreement
  is the one Gwet uses for missing ratings (Gwet 2014, Handbook of Inter-Rater
  Reliability; R package irrCAC, `fleiss.kappa.raw` / `fleiss.kappa.dist`: the mean P_i
  over the subjects with >= 2 ratings). irrCAC takes chance agreement from each subject's
  shares averaged (pi_j = mean_i n_ij / n_i); here the shares are pooled over all votes,
  as in Fleiss (1971) and Fleiss & Cuzick (1979). Fleiss & Cuzick's kappa for a varying
  number of ratings (reproduced in Fleiss, Levin & Paik 2003, ch. 18) instead weights each
  clip's disagreement by n_i: 1 - sum_i n_i p_ij q_ij / (N (n_bar - 1) p_j q_j). All of
  them equal Fleiss (1971) when every n_i = n; docs/labels.md compares them.
* Per-category kappa, the same generalisation of Fleiss' (1971) kappa_j (DESIGN.md §6):

      kappa_j = 1 - [(1/N) sum_i n_ij (n_i - n_ij) / (n_i (n_i - 1))] / (p_j q_j)

  With every n_i = n this is 1 - sum_i n_ij (n - n_ij) / (N n (n - 1) p_j q_j), and in
  both cases kappa is the p_j q_j-weighted mean of the kappa_j.
* Krippendorff's alpha, nominal (Krippendorff 2011, "Computing Krippendorff's
  alpha-reliability"; Hayes & Krippendorff 2007): from the `krippendorff` package on the
  clips x K value counts. Above KRIPPENDORFF_PACKAGE_MAX_CLIPS clips the package's
  per-clip K x K coincidence arrays would take gigabytes, so the same closed form is
  evaluated on the distinct vote patterns (`_alphas`, equal to the package to float
  rounding; tests check it):

      alpha = 1 - (n.. - 1) sum_i (n_i^2 - sum_j n_ij^2) / (n_i - 1) / (n..^2 - sum_j n_.j^2)

  with n.. = sum_i n_i and n_.j = sum_i n_ij.

The intervals are percentile bootstraps over clips (not the interval under the null
hypothesis kappa = 0 that textbooks quote): clips are resampled with replacement, B times,
with a seeded generator. Every statistic depends on a clip only through its vote pattern
(its row of counts), so a resample is drawn as multinomial counts of the distinct
patterns (at most 8,008 for 10 votes and 7 emotions) - the same distribution as
resampling the clips one by one, at a cost that does not grow with the number of clips.
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
# Above this many clips alpha is computed on the distinct vote patterns (see above):
# krippendorff.alpha holds a float64 K x K array per clip (1M clips: 4 s, 1.3 GB).
KRIPPENDORFF_PACKAGE_MAX_CLIPS = 200_000

FLEISS_METHOD = ("Fleiss' kappa: statsmodels.stats.inter_rater.fleiss_kappa "
                 "(method='fleiss'), every clip has the same number of votes; "
                 "per-category kappa: Fleiss (1971)")
GENERALISED_METHOD = ("Fleiss' kappa generalised to a varying number of votes per clip: "
                      "P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)), P_bar = mean P_i, "
                      "p_j = sum_i n_ij / sum_i n_i, P_e = sum_j p_j^2; per-category kappa "
                      "1 - mean_i[n_ij (n_i - n_ij) / (n_i (n_i - 1))] / (p_j q_j)")


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
    n: int | None                 # votes per clip when every clip has the same number
    categories: tuple[str, ...]
    overall: Kappa
    proportions: list[float]      # p_j (pooled over all votes)
    per_category: list[Kappa]
    bootstrap: dict = field(default_factory=dict)
    alpha: Kappa = field(default_factory=lambda: Kappa(None))
    vote_counts: dict[int, int] = field(default_factory=dict)   # n_i -> clips
    alpha_method: str = ""

    @property
    def equal_counts(self) -> bool:
        return self.n is not None

    def as_dict(self) -> dict:
        return {"N": self.N, "n": self.n,
                "vote_counts": {str(k): v for k, v in self.vote_counts.items()},
                "overall": self.overall.as_dict(),
                "alpha": {"alpha": _round(self.alpha.value), "ci_low": _round(self.alpha.ci_low),
                          "ci_high": _round(self.alpha.ci_high),
                          "undefined_reason": self.alpha.reason, "method": self.alpha_method},
                "per_category": [{"emotion": name, "code": code, "p": _round(p),
                                  **kappa.as_dict()}
                                 for code, (name, p, kappa) in enumerate(
                                     zip(self.categories, self.proportions,
                                         self.per_category), start=1)],
                "bootstrap": self.bootstrap,
                "method": FLEISS_METHOD if self.equal_counts else GENERALISED_METHOD}


def _round(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _undefined_reason(table: np.ndarray, totals: np.ndarray, categories) -> str | None:
    if len(table) == 0:
        return "no clips to measure agreement on"
    if totals.max() < 2:
        return (f"each clip has {int(totals.max())} rating; agreement between raters needs "
                "at least 2 ratings per clip")
    used = np.flatnonzero(table.sum(axis=0))
    if len(used) == 1:
        return (f"every vote is for one emotion ({categories[used[0]]}): observed and chance "
                "agreement are both 1, so kappa = (P - Pe) / (1 - Pe) is 0/0, undefined")
    return None


def _category_kappas(weights: np.ndarray, patterns: np.ndarray,
                     totals: np.ndarray) -> np.ndarray:
    """Per-category kappa for each row of `weights` (clip counts per pattern): [B, K].
    totals: n_i of each pattern."""
    n_i = totals[:, None].astype(float)
    clips = weights.sum(axis=1, keepdims=True).astype(float)
    p = weights @ patterns / (weights @ totals)[:, None]
    disagreement = weights @ (patterns * (n_i - patterns) / (n_i * (n_i - 1))) / clips
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - disagreement / (p * (1 - p))


def _overall_kappas(weights: np.ndarray, patterns: np.ndarray, totals) -> np.ndarray:
    """Fleiss' kappa (generalised to varying n_i) for each row of `weights`: [B].
    totals: n_i of each pattern, or one n for all."""
    totals = np.broadcast_to(np.asarray(totals), (len(patterns),)).astype(float)
    clips = weights.sum(axis=1).astype(float)
    agreement = ((patterns ** 2).sum(axis=1) - totals) / (totals * (totals - 1))  # P_i
    p_bar = weights @ agreement / clips
    p = weights @ patterns / (weights @ totals)[:, None]
    p_e = (p ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p_e < 1 - 1e-12, (p_bar - p_e) / (1 - p_e), np.nan)


def _alphas(weights: np.ndarray, patterns: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Krippendorff's alpha (nominal) for each row of `weights`: [B] (see the module doc)."""
    totals = totals.astype(float)
    within = (totals ** 2 - (patterns ** 2).sum(axis=1)) / (totals - 1)  # per pattern
    n_all = weights @ totals
    n_c = weights @ patterns
    expected = n_all ** 2 - (n_c.astype(float) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected > 0, 1 - (n_all - 1) * (weights @ within) / expected, np.nan)


def _patterns(table: np.ndarray, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of table and how many clips have each. n: the largest row sum
    (computed when not given)."""
    k = table.shape[1]
    if n is None:
        n = int(table.sum(axis=1).max()) if len(table) else 0
    if (n + 1) ** k < 2 ** 62:  # a row as one integer in base n + 1: a fast 1-D unique
        codes = table @ ((n + 1) ** np.arange(k, dtype=np.int64))
        _, first, counts = np.unique(codes, return_index=True, return_counts=True)
        return table[first], counts
    patterns, counts = np.unique(table, axis=0, return_counts=True)
    return patterns, counts


def krippendorff_alpha(table: np.ndarray, patterns: np.ndarray | None = None,
                       counts: np.ndarray | None = None) -> tuple[float, str]:
    """Krippendorff's alpha (nominal) of an N x K count table, and how it was computed.

    The `krippendorff` package (value_counts = the table) up to
    KRIPPENDORFF_PACKAGE_MAX_CLIPS clips; above, the closed form on the distinct patterns.
    Clips with fewer than 2 votes do not contribute (they are not pairable).
    """
    table = np.asarray(table, dtype=np.int64)
    if len(table) <= KRIPPENDORFF_PACKAGE_MAX_CLIPS:
        import krippendorff

        value = float(krippendorff.alpha(value_counts=table, level_of_measurement="nominal"))
        return value, "krippendorff.alpha(value_counts=..., level_of_measurement='nominal')"
    if patterns is None or counts is None:
        patterns, counts = _patterns(table)
    totals = patterns.sum(axis=1)
    keep = totals >= 2
    value = float(_alphas(counts[None, keep], patterns[keep], totals[keep])[0])
    return value, (f"nominal alpha, closed form on the {int(keep.sum())} distinct vote "
                   f"patterns (more than {KRIPPENDORFF_PACKAGE_MAX_CLIPS} clips; the "
                   "krippendorff package gives the same value)")


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float] | None:
    if not np.isfinite(values).any():
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def fleiss_agreement(table, *, bootstrap: int = DEFAULT_BOOTSTRAP,
                     confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED,
                     categories=NAMES) -> AgreementResult:
    """Agreement of an N x K table of vote counts (int; rows: clips, columns: categories).

    Every row sums to the same n: Fleiss' kappa from statsmodels (n = 1 gives an
    undefined kappa with its reason). Rows with different sums n_i: the generalised
    kappa of the module doc; then every row needs n_i >= 2 (LabelsError otherwise: drop
    the clips with fewer votes first, as `views.counted_table` does). Krippendorff's
    alpha (nominal) in both cases. bootstrap = 0 gives no intervals. Undefined values (one
    category used, a category nobody chose) are None with a reason, never NaN.
    """
    table = np.asarray(table, dtype=np.int64)
    if table.ndim != 2:
        raise LabelsError(f"an agreement table is clips x categories, not shape {table.shape}")
    N, K = table.shape
    totals = table.sum(axis=1)
    equal = bool(N) and bool((totals == totals[0]).all())
    n = int(totals[0]) if equal else None
    if N and not equal and totals.min() < 2:
        raise LabelsError(f"{int((totals < 2).sum())} clip(s) have fewer than 2 votes; "
                          "agreement with a varying number of votes per clip needs at least "
                          "2 on every clip (leave the others out)")
    categories = tuple(categories)
    vote_total = int(totals.sum())
    proportions = (table.sum(axis=0) / vote_total).tolist() if vote_total else [0.0] * K
    histogram = ({int(v): int(c) for v, c in zip(*np.unique(totals, return_counts=True))}
                 if N else {})
    reason = _undefined_reason(table, totals, categories)
    if reason:
        per = [Kappa(None, reason=reason) for _ in range(K)]
        return AgreementResult(N, n, categories, Kappa(None, reason=reason), proportions, per,
                               {"replicates": 0}, Kappa(None, reason=reason), histogram)

    patterns, counts = _patterns(table, int(totals.max()))
    pattern_totals = patterns.sum(axis=1)
    if equal:
        from statsmodels.stats.inter_rater import fleiss_kappa

        overall = Kappa(float(fleiss_kappa(table, method="fleiss")))
    else:
        overall = Kappa(float(_overall_kappas(counts[None, :], patterns, pattern_totals)[0]))
    alpha_value, alpha_method = krippendorff_alpha(table, patterns, counts)
    alpha = Kappa(alpha_value)
    per_values = _category_kappas(counts[None, :], patterns, pattern_totals)[0]
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
        # Float weights: the matrix products below then run in BLAS (integer matmul does
        # not); counts stay exact, they are integers far below 2**53.
        weights = rng.multinomial(N, counts / N, size=bootstrap).astype(np.float64)
        replicates = _overall_kappas(weights, patterns, pattern_totals)
        info["undefined_replicates"] = int(np.isnan(replicates).sum())
        interval = _percentiles(replicates, confidence)
        if interval:
            overall.ci_low, overall.ci_high = interval
        interval = _percentiles(_alphas(weights, patterns, pattern_totals), confidence)
        if interval:
            alpha.ci_low, alpha.ci_high = interval
        category_replicates = _category_kappas(weights, patterns, pattern_totals)
        for j, kappa in enumerate(per):
            interval = _percentiles(category_replicates[:, j], confidence)
            if kappa.value is not None and interval:
                kappa.ci_low, kappa.ci_high = interval
    return AgreementResult(N, n, categories, overall, proportions, per, info, alpha, histogram,
                           alpha_method)
