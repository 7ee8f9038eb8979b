"""Agreement and labels on uneven vote counts (issue 13): Fleiss' kappa generalised to a
varying number of votes per clip and Krippendorff's alpha, each against an independent
computation; statsmodels' value unchanged when every clip has n votes; the single-label
rule l_k / n_i > r / n."""

from fractions import Fraction

import krippendorff
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa

import dfew_build.labels.agreement as agreement
from dfew_build.errors import LabelsError
from dfew_build.labels.agreement import fleiss_agreement, krippendorff_alpha
from dfew_build.labels.consensus import single_labels
from dfew_build.labels.matrix import matrix_from_counts

SHARES = np.array([.25, .2, .2, .15, .1, .03, .07])


def uneven_table(seed: int = 1) -> np.ndarray:
    """299 clips x 7: 180 with exactly 10 votes, 60 with 9 and 59 with 11 (a vendor's
    clearer clips), votes drawn around a latent emotion with a per-clip clarity."""
    rng = np.random.default_rng(seed)
    counts = np.array([10] * 180 + [9] * 60 + [11] * 59)
    rng.shuffle(counts)
    rows = []
    for n_i in counts:
        latent = rng.choice(7, p=SHARES)
        clarity = rng.beta(*((2.2, 2.0) if n_i == 10 else (3.0, 1.6)))
        rows.append(rng.multinomial(n_i, clarity * np.eye(7)[latent] + (1 - clarity) * SHARES))
    return np.array(rows)


def loop_kappa(table) -> Fraction:
    """Generalised Fleiss' kappa, exactly, one clip at a time (the issue's formula)."""
    rows = [[int(v) for v in row] for row in table]
    p_bar = sum(Fraction(sum(x * (x - 1) for x in row), sum(row) * (sum(row) - 1))
                for row in rows) / len(rows)
    total = sum(sum(row) for row in rows)
    p = [Fraction(sum(row[j] for row in rows), total) for j in range(len(rows[0]))]
    p_e = sum(x * x for x in p)
    return (p_bar - p_e) / (1 - p_e)


def direct_kappa(table) -> float:
    """The same formula in plain numpy over the clips (no vote patterns)."""
    n = table.sum(axis=1)
    p_bar = ((table * (table - 1)).sum(axis=1) / (n * (n - 1))).mean()
    p_e = ((table.sum(axis=0) / n.sum()) ** 2).sum()
    return (p_bar - p_e) / (1 - p_e)


def loop_category_kappas(table) -> list:
    rows = [[int(v) for v in row] for row in table]
    total = sum(sum(row) for row in rows)
    out = []
    for j in range(len(rows[0])):
        p = Fraction(sum(row[j] for row in rows), total)
        if p in (0, 1):
            out.append(None)
            continue
        d = sum(Fraction(row[j] * (sum(row) - row[j]), sum(row) * (sum(row) - 1))
                for row in rows) / len(rows)
        out.append(1 - d / (p * (1 - p)))
    return out


def loop_alpha(table) -> Fraction:
    """Krippendorff's nominal alpha from its definition: pairable values, coincidences
    o_ck = sum_u (pairs c-k in u) / (m_u - 1), D_o / D_e."""
    k = len(table[0])
    o = [[Fraction(0)] * k for _ in range(k)]
    for row in table:
        m = int(sum(row))
        if m < 2:
            continue
        for c in range(k):
            for d in range(k):
                pairs = int(row[c]) * (int(row[d]) - (c == d))
                o[c][d] += Fraction(pairs, m - 1)
    n_c = [sum(o[c]) for c in range(k)]
    n = sum(n_c)
    observed = sum(o[c][d] for c in range(k) for d in range(k) if c != d)
    expected = sum(n_c[c] * n_c[d] for c in range(k) for d in range(k) if c != d) / (n - 1)
    return 1 - observed / expected


def reliability_data(table, raters: int = 14, seed: int = 0) -> np.ndarray:
    """raters x clips codes 1..7 with NaN where a rater did not see the clip: each clip's
    votes given by a random subset of the raters (the other input form of the package)."""
    rng = np.random.default_rng(seed)
    data = np.full((raters, len(table)), np.nan)
    for i, row in enumerate(table):
        codes = np.repeat(np.arange(1, 8), row)
        data[rng.permutation(raters)[:len(codes)], i] = rng.permutation(codes)
    return data


def test_generalised_kappa_and_alpha_against_independent_computations():
    table = uneven_table()
    assert sorted(np.unique(table.sum(axis=1), return_counts=True)[1]) == [59, 60, 180]
    result = fleiss_agreement(table, bootstrap=0)
    assert result.n is None and result.vote_counts == {9: 60, 10: 180, 11: 59}
    exact = loop_kappa(table)
    assert result.overall.value == pytest.approx(float(exact), abs=1e-12)
    alpha = krippendorff.alpha(reliability_data=reliability_data(table),
                               level_of_measurement="nominal")
    assert result.alpha.value == pytest.approx(alpha, abs=1e-12)
    assert result.alpha.value == pytest.approx(float(loop_alpha(table)), abs=1e-12)
    for mine, theirs in zip(result.per_category, loop_category_kappas(table)):
        assert mine.value == pytest.approx(float(theirs), abs=1e-12)
    # kappa is the p_j q_j-weighted mean of the per-category kappas, as with equal counts.
    p = np.array(result.proportions)
    weights = p * (1 - p)
    per = np.array([k.value for k in result.per_category])
    assert (weights * per).sum() / weights.sum() == pytest.approx(result.overall.value)
    # The figures of this table (reported in docs/labels.md): generalised kappa, alpha and
    # DFEW's fixed-n kappa on the 180 complete clips differ as the did.
    complete = fleiss_kappa(table[table.sum(axis=1) == 10])
    assert round(result.overall.value, 4) == 0.3983
    assert round(result.alpha.value, 4) == 0.3989
    assert round(complete, 4) == 0.3279


def test_equal_counts_report_statsmodels_unchanged():
    rng = np.random.default_rng(5)
    table = rng.multinomial(10, SHARES, size=400)
    table[::3] = rng.multinomial(10, np.eye(7)[2] * 0.7 + SHARES * 0.3, size=len(table[::3]))
    result = fleiss_agreement(table, bootstrap=0)
    assert result.n == 10 and result.vote_counts == {10: 400}
    assert result.overall.value == fleiss_kappa(table, method="fleiss")  # the same float
    assert result.as_dict()["method"].startswith("Fleiss' kappa: statsmodels")
    # The generalised formula agrees on such a table (to rounding).
    assert float(loop_kappa(table)) == pytest.approx(result.overall.value, abs=1e-12)
    assert result.alpha.value == pytest.approx(
        krippendorff.alpha(value_counts=table, level_of_measurement="nominal"))


def test_alpha_on_distinct_patterns_equals_the_package(monkeypatch):
    table = uneven_table(seed=4)
    package, how = krippendorff_alpha(table)
    assert how.startswith("krippendorff.alpha")
    monkeypatch.setattr(agreement, "KRIPPENDORFF_PACKAGE_MAX_CLIPS", 10)
    patterns, how = krippendorff_alpha(table)
    assert "closed form" in how
    assert patterns == pytest.approx(package, abs=1e-12)
    # One-vote clips are not pairable: they change neither value.
    with_single = np.vstack([table, np.eye(7, dtype=int)[[0, 3]]])
    assert krippendorff_alpha(with_single)[0] == pytest.approx(package, abs=1e-12)
    monkeypatch.undo()
    assert krippendorff_alpha(with_single)[0] == pytest.approx(package, abs=1e-12)


def test_bootstrap_on_uneven_counts_matches_resampling_clips():
    table = uneven_table(seed=2)
    result = fleiss_agreement(table, bootstrap=2000, seed=3)
    rng = np.random.default_rng(17)
    kappas, alphas = [], []
    for _ in range(1000):
        sample = table[rng.integers(0, len(table), len(table))]
        kappas.append(direct_kappa(sample))
        alphas.append(krippendorff.alpha(value_counts=sample, level_of_measurement="nominal"))
    low, high = np.percentile(kappas, [2.5, 97.5])
    assert result.overall.ci_low == pytest.approx(low, abs=0.015)
    assert result.overall.ci_high == pytest.approx(high, abs=0.015)
    low, high = np.percentile(alphas, [2.5, 97.5])
    assert result.alpha.ci_low == pytest.approx(low, abs=0.015)
    assert result.alpha.ci_high == pytest.approx(high, abs=0.015)
    assert result.alpha.ci_low < result.alpha.value < result.alpha.ci_high
    for kappa in result.per_category:
        assert kappa.ci_low <= kappa.value <= kappa.ci_high


def test_uneven_table_needs_two_votes_per_clip():
    table = np.array([[2, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0], [0, 3, 0, 0, 0, 0, 0]])
    with pytest.raises(LabelsError, match=r"^1 clip\(s\) have fewer than 2 votes; agreement "):
        fleiss_agreement(table)
    one_category = np.array([[2, 0, 0, 0, 0, 0, 0], [3, 0, 0, 0, 0, 0, 0]])
    result = fleiss_agreement(one_category)
    assert result.overall.value is None and result.alpha.value is None
    assert result.overall.reason.startswith("every vote is for one emotion (happy)")


@pytest.mark.parametrize("votes, expected", [
    ((7, 3), 1), ((6, 4), None),                 # n_i = n = 10: DFEW's l_k > 6
    ((6, 3), 1), ((5, 4), None),                 # 9 votes: 6/9 = 66.7 % > 60 %, 5/9 no
    ((7, 4), 1), ((6, 5), None),                 # 11 votes: 7/11 = 63.6 %, 6/11 = 54.5 %
    ((3, 2), None), ((12, 8), None), ((13, 7), 1),  # exactly 60 % is not more than 60 %
    ((2, 0), 1), ((1, 0), None),                 # 2 votes is enough, 1 is not
])
def test_single_label_share_rule(votes, expected):
    matrix = matrix_from_counts([(1, code, n) for code, n in enumerate(votes, start=1) if n])
    labels = single_labels(matrix, threshold=6, raters=10)
    assert labels.get(1) == expected


def test_single_label_rule_with_exactly_n_votes_is_dfews():
    rng = np.random.default_rng(0)
    table = rng.multinomial(10, SHARES, size=2000)
    matrix = pd.DataFrame(table, columns=list("abcdefg"))
    for threshold in (3, 5, 6, 8):
        passing = table > threshold
        dfew = np.flatnonzero(passing.sum(axis=1) == 1)
        assert single_labels(matrix, threshold, 10).index.tolist() == dfew.tolist()


def test_two_emotions_over_a_low_share_have_no_label():
    matrix = matrix_from_counts([(1, 1, 5), (1, 2, 5)])  # 50 % each, threshold 4 of 10
    assert single_labels(matrix, 4, 10).empty
    with pytest.raises(LabelsError, match="number of raters must be a whole number >= 1"):
        single_labels(matrix, 4, 0)
