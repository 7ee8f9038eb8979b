"""Fleiss' kappa, per-category kappa, the bootstrap interval and the Landis & Koch bands."""

import numpy as np
import pytest
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from dfew_build.labels.agreement import (_overall_kappas, _patterns, fleiss_agreement,
                                         landis_koch)

# 4 clips x 3 raters over happy, sad, fear (columns in DFEW order, 7 emotions).
#   clip 1: happy 3; clip 2: happy 2, sad 1; clip 3: sad 2, fear 1; clip 4: fear 3.
# By hand: p = 5/12, 3/12, 4/12 (happy, sad, fear); N n (n - 1) = 24.
#   happy: 1 - (2*1) / (24 * 5/12 * 7/12) = 1 - 12/35 = 23/35
#   sad:   1 - (1*2 + 2*1) / (24 * 3/12 * 9/12) = 1 - 4/4.5 = 1/9
#   fear:  1 - (1*2) / (24 * 4/12 * 8/12) = 1 - 0.375 = 0.625
#   overall: P = (1 + 1/3 + 1/3 + 1) / 4 = 2/3, Pe = 50/144, kappa = (2/3 - 50/144) / (94/144)
#            = 46/94 (also the p_j q_j-weighted mean of the three above)
HAND = np.array([[3, 0, 0, 0, 0, 0, 0],
                 [2, 1, 0, 0, 0, 0, 0],
                 [0, 2, 0, 0, 0, 0, 1],
                 [0, 0, 0, 0, 0, 0, 3]])


def test_hand_computed_per_category_and_overall():
    result = fleiss_agreement(HAND, bootstrap=0)
    assert (result.N, result.n) == (4, 3)
    assert result.overall.value == pytest.approx(46 / 94)
    kappas = [k.value for k in result.per_category]
    assert kappas[0] == pytest.approx(23 / 35)
    assert kappas[1] == pytest.approx(1 / 9)
    assert kappas[6] == pytest.approx(0.625)
    assert kappas[2:6] == [None] * 4
    assert [k.reason for k in result.per_category[2:6]] == [
        "no vote for neutral", "no vote for angry", "no vote for surprise",
        "no vote for disgust"]
    assert result.proportions[:2] == pytest.approx([5 / 12, 3 / 12])


def test_statsmodels_reference_tables():
    from statsmodels.stats.tests import test_inter_rater as reference

    diagnoses = aggregate_raters(reference.diagnoses)[0]  # 30 subjects x 5 categories
    table = np.zeros((30, 7), dtype=int)
    table[:, :5] = diagnoses
    assert fleiss_agreement(table, bootstrap=0).overall.value == pytest.approx(0.4302, abs=5e-5)
    table1 = np.zeros((10, 7), dtype=int)
    table1[:, :5] = reference.table1
    assert fleiss_agreement(table1, bootstrap=0).overall.value == pytest.approx(0.2099,
                                                                                abs=5e-5)


def test_pattern_weights_reproduce_statsmodels():
    rng = np.random.default_rng(3)
    table = rng.multinomial(10, [0.4, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05], size=500)
    patterns, counts = _patterns(table, 10)
    assert counts.sum() == 500 and len(patterns) < 500
    assert _overall_kappas(counts[None, :], patterns, 10)[0] == pytest.approx(fleiss_kappa(table))
    wide = np.unique(table, axis=0, return_counts=True)  # the path for huge n
    assert sorted(map(tuple, wide[0])) == sorted(map(tuple, patterns))


def test_bootstrap_matches_resampling_clips_one_by_one():
    rng = np.random.default_rng(1)
    table = rng.multinomial(10, [0.5, 0.2, 0.1, 0.1, 0.05, 0.03, 0.02], size=300)
    result = fleiss_agreement(table, bootstrap=2000, seed=7)
    naive_rng = np.random.default_rng(11)
    naive = [fleiss_kappa(table[naive_rng.integers(0, 300, 300)]) for _ in range(2000)]
    low, high = np.percentile(naive, [2.5, 97.5])
    assert result.overall.ci_low == pytest.approx(low, abs=0.01)
    assert result.overall.ci_high == pytest.approx(high, abs=0.01)
    assert result.overall.ci_low < result.overall.value < result.overall.ci_high
    again = fleiss_agreement(table, bootstrap=2000, seed=7)
    assert (again.overall.ci_low, again.overall.ci_high) == (result.overall.ci_low,
                                                             result.overall.ci_high)
    other = fleiss_agreement(table, bootstrap=2000, seed=8)
    assert other.overall.ci_low != result.overall.ci_low
    for kappa in result.per_category:
        assert kappa.ci_low <= kappa.value <= kappa.ci_high


def test_undefined_cases_are_explained():
    one_category = np.zeros((5, 7), dtype=int)
    one_category[:, 0] = 10
    result = fleiss_agreement(one_category)
    assert result.overall.value is None
    assert result.overall.reason == (
        "every vote is for one emotion (happy): observed and chance agreement are both 1, so "
        "kappa = (P - Pe) / (1 - Pe) is 0/0, undefined")
    assert result.as_dict()["overall"] == {"kappa": None, "ci_low": None, "ci_high": None,
                                           "band": None,
                                           "undefined_reason": result.overall.reason}
    one_rater = np.eye(7, dtype=int)
    assert fleiss_agreement(one_rater).overall.reason == (
        "each clip has 1 rating; agreement between raters needs at least 2 ratings per clip")
    assert fleiss_agreement(np.zeros((0, 7))).overall.reason == "no clips to measure agreement on"


@pytest.mark.parametrize("kappa, band", [
    (-0.01, "poor"), (0.0, "slight"), (0.2, "slight"), (0.21, "fair"), (0.4, "fair"),
    (0.6, "moderate"), (0.61, "substantial"), (0.8, "substantial"), (0.81, "almost perfect"),
    (1.0, "almost perfect"), (None, None), (float("nan"), None)])
def test_landis_koch(kappa, band):
    assert landis_koch(kappa) == band
