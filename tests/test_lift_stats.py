"""The lift statistics against worked examples from the literature and against SciPy.

Literature: Newcombe, "Interval estimation for the difference between independent
proportions: comparison of eleven methods", Statistics in Medicine 17 (1998) 873-890,
Table II, method 10; Newcombe, "Two-sided confidence intervals for the single proportion",
Statistics in Medicine 17 (1998) 857-872, Table I, method 3 (Wilson, no continuity
correction); the worked example of Welch's test in Wikipedia's "Student's t-test".
"""

from __future__ import annotations

import math
import random

import pytest
from scipy import special
from scipy import stats as sps
from scipy.stats.contingency import relative_risk

from bridge.lift import stats as L

# (x1, n1, x2, n2) -> (lower, upper) as printed (4 decimals), Newcombe 1998, Table II
NEWCOMBE_TABLE_II = {
    (56, 70, 48, 80): (0.0524, 0.3339),
    (9, 10, 3, 10): (0.1705, 0.8090),
    (6, 7, 2, 7): (0.0582, 0.8062),
    (5, 56, 0, 29): (-0.0381, 0.1926),
    (0, 10, 0, 20): (-0.1611, 0.2775),
    (0, 10, 0, 10): (-0.2775, 0.2775),
    (10, 10, 0, 20): (0.6791, 1.0000),
    (10, 10, 0, 10): (0.6075, 1.0000),
}

# (x, n) -> (lower, upper), Newcombe 1998 (single proportion), Table I, Wilson's method
WILSON_TABLE_I = {
    (81, 263): (0.2553, 0.3662),
    (15, 148): (0.0624, 0.1605),
    (0, 20): (0.0000, 0.1611),
    (1, 29): (0.0061, 0.1718),
}


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_TABLE_II.items())
def test_newcombe_matches_the_published_table(counts, published):
    ours = L.newcombe_interval(*counts)
    assert (round(ours.low, 4), round(ours.high, 4)) == published


@pytest.mark.parametrize("counts", NEWCOMBE_TABLE_II)
def test_newcombe_matches_its_definition_on_scipys_wilson_intervals(counts):
    """The same construction from SciPy's Wilson intervals, to 1e-12."""
    x1, n1, x2, n2 = counts
    w1 = sps.binomtest(x1, n1).proportion_ci(0.95, method="wilson")
    w2 = sps.binomtest(x2, n2).proportion_ci(0.95, method="wilson")
    p1, p2 = x1 / n1, x2 / n2
    low = p1 - p2 - math.sqrt((p1 - w1.low) ** 2 + (w2.high - p2) ** 2)
    high = p1 - p2 + math.sqrt((w1.high - p1) ** 2 + (p2 - w2.low) ** 2)
    ours = L.newcombe_interval(*counts)
    assert ours.low == pytest.approx(low, abs=1e-12)
    assert ours.high == pytest.approx(high, abs=1e-12)


@pytest.mark.parametrize(("counts", "published"), WILSON_TABLE_I.items())
def test_wilson_matches_the_published_table_and_scipy(counts, published):
    ours = L.wilson_interval(*counts)
    assert (round(ours.low, 4), round(ours.high, 4)) == published
    ref = sps.binomtest(*counts).proportion_ci(0.95, method="wilson")
    assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_wilson_at_other_levels_matches_scipy():
    rng = random.Random(7)
    for _ in range(200):
        n = rng.randint(1, 5000)
        x = rng.randint(0, n)
        level = rng.choice([0.8, 0.9, 0.95, 0.99, 0.999])
        ours = L.wilson_interval(x, n, level)
        ref = sps.binomtest(x, n).proportion_ci(level, method="wilson")
        assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_two_proportion_p_value_is_pearsons_chi_square_without_correction():
    rng = random.Random(11)
    tables = [(56, 70, 48, 80), (9, 10, 3, 10), (5, 56, 0, 29), (310, 10_000, 262, 10_000)]
    for _ in range(100):
        n1, n2 = rng.randint(5, 20_000), rng.randint(5, 20_000)
        tables.append((rng.randint(1, n1 - 1), n1, rng.randint(1, n2 - 1), n2))
    for x1, n1, x2, n2 in tables:
        table = [[x1, n1 - x1], [x2, n2 - x2]]
        ref = sps.chi2_contingency(table, correction=False).pvalue
        assert L.two_proportion_p_value(x1, n1, x2, n2) == pytest.approx(ref, rel=1e-9)


def test_two_proportion_p_value_worked_example():
    """56/70 vs 48/80 by hand: pooled 104/150 = 0.69333; standard error
    √(0.69333 · 0.30667 · (1/70 + 1/80)) = 0.075467; z = 0.2 / 0.075467 = 2.6502;
    two-sided p = 2 · (1 − Φ(2.6502)) = 0.00805 (χ² = z² = 7.0234)."""
    assert L.two_proportion_p_value(56, 70, 48, 80) == pytest.approx(0.00805, abs=5e-6)
    assert sps.chi2_contingency([[56, 14], [48, 32]], correction=False).statistic == (
        pytest.approx(7.0234, abs=5e-5)
    )


def test_no_buyers_on_either_side_is_no_difference():
    assert L.two_proportion_p_value(0, 40, 0, 35) == 1.0
    assert L.two_proportion_p_value(40, 40, 35, 35) == 1.0
    assert L.newcombe_interval(0, 40, 0, 35).excludes(0) is False


def test_bad_counts_are_refused_with_the_numbers():
    with pytest.raises(ValueError, match="5 of 3"):
        L.newcombe_interval(5, 3, 1, 10)
    with pytest.raises(ValueError, match="0 members"):
        L.wilson_interval(0, 0)
    with pytest.raises(TypeError, match="integers"):
        L.two_proportion_p_value(1.5, 10, 1, 10)
    with pytest.raises(ValueError, match="confidence"):
        L.wilson_interval(1, 10, 95)


def test_risk_ratio_interval_matches_scipy():
    """Katz's log interval is what SciPy's relative_risk computes."""
    rng = random.Random(5)
    cases = [(56, 70, 48, 80), (5, 56, 1, 29)]
    for _ in range(100):
        n1, n2 = rng.randint(2, 5000), rng.randint(2, 5000)
        cases.append((rng.randint(1, n1), n1, rng.randint(1, n2), n2))
    for x1, n1, x2, n2 in cases:
        ref = relative_risk(x1, n1, x2, n2).confidence_interval(0.95)
        ours = L.risk_ratio_interval(x1, n1, x2, n2)
        assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high), rel=1e-12)
    with pytest.raises(ValueError, match="at least one buyer"):
        L.risk_ratio_interval(0, 10, 3, 10)


# --- Student's t --------------------------------------------------------------------------


def test_regularized_beta_matches_scipy():
    rng = random.Random(3)
    for _ in range(3000):
        a, b = 10 ** rng.uniform(-1, 4), 10 ** rng.uniform(-1, 4)
        x = rng.random()
        ref = float(special.betainc(a, b, x))
        if ref < 1e-100:  # far in the underflow: absolute agreement is all that matters
            assert abs(L.regularized_beta(x, a, b) - ref) < 1e-100
            continue
        assert L.regularized_beta(x, a, b) == pytest.approx(ref, rel=1e-9)


DFS = [0.5, 1, 1.5, 2, 3, 4.2, 7.031, 10, 29.5, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e9, 1e12]


@pytest.mark.parametrize("df", DFS)
def test_t_distribution_matches_scipy(df):
    for t in [0, 0.1, 0.5, 1, 1.959, 2, 2.5, 3, 5, 10]:
        assert L.t_two_sided_tail(t, df) == pytest.approx(2 * sps.t.sf(t, df), rel=1e-8)
        assert L.t_cdf(t, df) == pytest.approx(sps.t.cdf(t, df), rel=1e-8)
        assert L.t_cdf(-t, df) == pytest.approx(sps.t.cdf(-t, df), rel=1e-8)
    for p in [1e-6, 0.001, 0.025, 0.1, 0.5, 0.6, 0.9, 0.975, 0.995, 0.9995]:
        assert L.t_quantile(p, df) == pytest.approx(sps.t.ppf(p, df), rel=1e-9, abs=1e-12)


def test_t_quantile_textbook_values():
    """The familiar table: t(0.975) with 1, 10 and 30 df; and the normal limit."""
    assert L.t_quantile(0.975, 1) == pytest.approx(12.7062, abs=5e-5)
    assert L.t_quantile(0.975, 10) == pytest.approx(2.2281, abs=5e-5)
    assert L.t_quantile(0.975, 30) == pytest.approx(2.0423, abs=5e-5)
    assert L.t_quantile(0.975, 1e12) == pytest.approx(1.959964, abs=1e-6)


# --- Welch --------------------------------------------------------------------------------

SCREWS_1 = [30.02, 29.99, 30.11, 29.97, 30.01, 29.99]
SCREWS_2 = [29.89, 29.93, 29.72, 29.98, 30.02, 29.98]


def test_welch_worked_example():
    """Wikipedia, "Student's t-test", worked example, unequal variances: standard error
    ≈ 0.04849, d.f. ≈ 7.031, t ≈ 1.959, two-sided p ≈ 0.090."""
    w = L.welch(L.Sample.of(SCREWS_1), L.Sample.of(SCREWS_2))
    assert w is not None
    assert w.difference == pytest.approx(0.095, abs=1e-12)
    assert round(w.standard_error, 5) == 0.04849
    assert round(w.df, 3) == 7.031
    assert round(w.t, 3) == 1.959
    assert round(w.p_value, 3) == 0.091  # "0.090" in the article, truncated: 0.09077
    ref = sps.ttest_ind(SCREWS_1, SCREWS_2, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert (w.t, w.df, w.p_value) == pytest.approx((ref.statistic, ref.df, ref.pvalue), rel=1e-9)
    assert (w.interval.low, w.interval.high) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_welch_matches_scipy_on_shop_like_samples():
    """Revenue per member: mostly zeros, a few buyers with spread-out baskets."""
    rng = random.Random(42)
    for _ in range(60):
        n1, n2 = rng.randint(2, 3000), rng.randint(2, 3000)
        r1, r2 = rng.uniform(0, 0.3), rng.uniform(0, 0.3)
        a = [rng.lognormvariate(4, 1) if rng.random() < r1 else 0.0 for _ in range(n1)]
        b = [rng.lognormvariate(4, 1.2) if rng.random() < r2 else 0.0 for _ in range(n2)]
        if len(set(a)) < 2 and len(set(b)) < 2:
            continue
        for level in (0.9, 0.95, 0.99):
            w = L.welch(L.Sample.of(a), L.Sample.of(b), level)
            ref = sps.ttest_ind(a, b, equal_var=False)
            ci = ref.confidence_interval(level)
            assert w is not None
            assert w.df == pytest.approx(ref.df, rel=1e-9)
            assert w.p_value == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-300)
            assert w.interval.low == pytest.approx(ci.low, rel=1e-9, abs=1e-9)
            assert w.interval.high == pytest.approx(ci.high, rel=1e-9, abs=1e-9)


def test_welch_cannot_be_computed_without_variation_or_with_one_member():
    assert L.welch(L.Sample.of([0.0] * 50), L.Sample.of([0.0] * 40)) is None
    assert L.welch(L.Sample.of([3.0]), L.Sample.of([1.0, 2.0])) is None
    # one side constant, the other not: defined, with the other side's degrees of freedom
    w = L.welch(L.Sample.of([0.0] * 50), L.Sample.of([0.0, 10.0] * 20))
    assert w is not None and w.df == pytest.approx(39)


def test_ratio_of_means_interval_covers_the_true_ratio_about_95_percent_of_the_time():
    """Delta method on the log scale: coverage over 1,000 simulated pairs of samples of
    300 exponential values (true ratio 1.25) lies in the 99.9 % binomial band around 95 %."""
    rng = random.Random(2026)
    covered = 0
    for _ in range(1000):
        a = [rng.expovariate(1 / 50) for _ in range(300)]
        b = [rng.expovariate(1 / 40) for _ in range(300)]
        interval = L.ratio_of_means_interval(L.Sample.of(a), L.Sample.of(b))
        assert interval is not None
        covered += interval.low <= 1.25 <= interval.high
    low, high = sps.binom.ppf(0.0005, 1000, 0.95), sps.binom.isf(0.0005, 1000, 0.95)
    assert low <= covered <= high, covered
    assert L.ratio_of_means_interval(L.Sample.of([0.0, 0.0]), L.Sample.of([1.0, 2.0])) is None
