"""The statistics of a lift: two proportions and two means, treated minus held out.

Pure Python on purpose. The project needs Student's t distribution (CDF and quantile) and
the normal distribution, nothing more; SciPy would bring over 200 MB installed (SciPy and
NumPy with their bundled libraries), a compiled wheel per platform and a second of import
time (``import scipy.stats``) to every command, for those few functions. The t
distribution is computed here from the regularized incomplete beta function (a continued
fraction, evaluated with the modified Lentz method), the normal one by
``statistics.NormalDist`` and ``math.erfc``; the tests check every figure against SciPy
and against worked examples from the literature.

Conventions: ``x`` buyers out of ``n`` members; ``1`` is the treated side, ``2`` the held
out side; a difference is side 1 minus side 2; confidence levels are two-sided.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

_STD_NORMAL = NormalDist()


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]``."""

    low: float
    high: float

    def excludes(self, value: float = 0.0) -> bool:
        """True when ``value`` lies outside the interval (a "significant" difference)."""
        return value < self.low or value > self.high


def z_value(confidence: float) -> float:
    """The standard normal quantile for a two-sided ``confidence`` (1.959964 for 0.95)."""
    _check_confidence(confidence)
    return _STD_NORMAL.inv_cdf(0.5 + confidence / 2)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, not {confidence!r}")


def _check_count(x: int, n: int) -> None:
    if (
        isinstance(x, bool)
        or isinstance(n, bool)
        or not isinstance(x, int)
        or not isinstance(n, int)
    ):
        raise TypeError(f"counts must be integers, not {x!r} of {n!r}")
    if n < 0 or not 0 <= x <= n:
        raise ValueError(f"{x} of {n} is not a count of successes out of a number of trials")


# --- proportions -------------------------------------------------------------------------


def wilson_interval(x: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson's score interval for one proportion ``x / n`` (no continuity correction).

    Unlike the textbook ``p ± z·√(p(1-p)/n)`` it never leaves [0, 1] and does not collapse
    to a point at 0 or n buyers, which is common for a small held-out side.
    """
    _check_count(x, n)
    if n == 0:
        raise ValueError("a proportion of 0 members has no interval")
    z = z_value(confidence)
    p = x / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # exact at the edges (the formula gives them up to rounding)
    low = 0.0 if x == 0 else max(0.0, centre - half)
    high = 1.0 if x == n else min(1.0, centre + half)
    return Interval(low, high)


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> Interval:
    """Newcombe's hybrid score interval for ``x1/n1 − x2/n2`` (method 10 of Newcombe 1998).

    Each proportion gets its Wilson interval ``(l, u)``; the difference ``d = p1 − p2`` gets
    ``d − √((p1 − l1)² + (u2 − p2)²)`` to ``d + √((u1 − p1)² + (p2 − l2)²)``. Newcombe found
    it keeps close to the nominal coverage where the simple Wald interval does not (small
    sides, conversions near 0), at no cost in computation.
    """
    _check_count(x1, n1)
    _check_count(x2, n2)
    p1, p2 = x1 / n1 if n1 else math.nan, x2 / n2 if n2 else math.nan
    w1 = wilson_interval(x1, n1, confidence)
    w2 = wilson_interval(x2, n2, confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - w1.low) ** 2 + (w2.high - p2) ** 2)
    high = d + math.sqrt((w1.high - p1) ** 2 + (p2 - w2.low) ** 2)
    return Interval(max(-1.0, low), min(1.0, high))


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of ``p1 = p2``.

    The score test: the standard error is taken under the null hypothesis, from the pooled
    proportion, so it is the same test as Pearson's χ² on the 2×2 table without continuity
    correction (z² = χ²), the usual test for conversion rates, and it belongs to the same
    score family as the Wilson intervals Newcombe's interval is built from. (It is not the
    exact dual of that interval: near p = 0.05 the two may disagree in rare cases.) Both
    sides without any buyer, or both all buyers: no difference, p = 1.
    """
    _check_count(x1, n1)
    _check_count(x2, n2)
    if n1 == 0 or n2 == 0:
        raise ValueError("both sides need at least one member")
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = abs(x1 / n1 - x2 / n2) / se
    return math.erfc(z / math.sqrt(2))  # = 2·(1 − Φ(z)), without the cancellation


def risk_ratio_interval(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> Interval:
    """The interval of ``(x1/n1) / (x2/n2)`` on the log scale (Katz et al. 1978).

    ``exp(ln RR ± z·√(1/x1 − 1/n1 + 1/x2 − 1/n2))``. Undefined (ValueError) when a side
    has no buyer: the ratio is then 0 or infinite.
    """
    _check_count(x1, n1)
    _check_count(x2, n2)
    if x1 == 0 or x2 == 0:
        raise ValueError("a ratio of proportions needs at least one buyer on each side")
    z = z_value(confidence)
    log_rr = math.log((x1 / n1) / (x2 / n2))
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    return Interval(math.exp(log_rr - z * se), math.exp(log_rr + z * se))


# --- Student's t -------------------------------------------------------------------------

_EPS = 1e-15
_TINY = 1e-300
# From 10^8 degrees of freedom on, the tail is the normal one plus its first correction in
# 1/df, φ(t)·(t³ + t)/(4·df) a side, which leaves an error of order t⁸/df² (3e-10 of the
# tail at |t| = 10 and 10^8 df, SciPy says), while the continued fraction, with a = df/2
# that large, starts to lose digits (1e-8 at 10^9, 1e-4 at 10^12). Welch's df never
# exceeds the number of members, so this is for completeness only.
_NORMAL_DF = 1e8


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz), good for x < (a+1)/(a+b+2)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    result = d
    # about √max(a, b) terms are needed near x = (a+1)/(a+b+2), far fewer away from it
    for m in range(1, 200_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            delta = c * d
            result *= delta
        if abs(delta - 1.0) < _EPS:
            return result
    raise ArithmeticError(f"the incomplete beta function did not converge (a={a}, b={b}, x={x})")


def _log_gamma_ratio(z: float, b: float) -> float:
    """ln Γ(z + b) − ln Γ(z) for a large z without the cancellation of two big lgammas.

    Stirling's series of each term, subtracted term by term; the first written with log1p.
    Used for z ≥ 10 (the truncation error is then below 1e-12 of the result's scale).
    """
    zb = z + b
    head = (z - 0.5) * math.log1p(b / z) + b * math.log(zb) - b
    series = (1 / zb - 1 / z) / 12 - (1 / zb**3 - 1 / z**3) / 360 + (1 / zb**5 - 1 / z**5) / 1260
    return head + series


def _log_beta(a: float, b: float) -> float:
    """ln B(a, b). With degrees of freedom in the millions ln Γ(a) and ln Γ(a + ½) are
    ~1e7 apart from 0 but their difference is small: subtracting them would lose ~7 digits."""
    small, big = (a, b) if a <= b else (b, a)
    if big >= 10 and big >= 100 * small:
        return math.lgamma(small) - _log_gamma_ratio(big, small)
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _log_beta_front(x: float, y: float, a: float, b: float) -> float:
    """ln(x^a · y^b / B(a, b)) with y = 1 − x, each log from whichever of x and y is known
    exactly (log1p of the small one)."""
    log_x = math.log1p(-y) if y < 0.5 else math.log(x)
    log_y = math.log1p(-x) if x < 0.5 else math.log(y)
    return a * log_x + b * log_y - _log_beta(a, b)


def regularized_beta(x: float, a: float, b: float, complement: float | None = None) -> float:
    """I_x(a, b), the regularized incomplete beta function, for a, b > 0 and 0 ≤ x ≤ 1.

    ``complement`` is 1 − x when the caller knows it more exactly than ``1 - x`` would
    give it (x a hair below 1, as for a t statistic with millions of degrees of freedom).
    """
    if not (a > 0 and b > 0):
        raise ValueError(f"a and b must be positive, not {a!r} and {b!r}")
    if not 0 <= x <= 1:
        raise ValueError(f"x must lie in [0, 1], not {x!r}")
    y = 1.0 - x if complement is None else complement
    if x == 0 or y == 0:
        return 0.0 if x == 0 else 1.0
    log_front = _log_beta_front(x, y, a, b)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, y) / b


def t_two_sided_tail(t: float, df: float) -> float:
    """P(|T| ≥ |t|) for Student's t with ``df`` degrees of freedom (df may be fractional)."""
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, not {df!r}")
    if math.isnan(t):
        raise ValueError("t is not a number")
    if math.isinf(t):
        return 0.0
    t2 = t * t
    if t2 == 0:
        return 1.0
    if df >= _NORMAL_DF:  # the normal tail and the first term of its expansion in 1/df
        phi = math.exp(-t2 / 2) / math.sqrt(2 * math.pi)
        return math.erfc(abs(t) / math.sqrt(2)) + phi * abs(t) * (t2 + 1) / (2 * df)
    # I_{df/(df+t²)}(df/2, ½), handing over t²/(df+t²) as the complement so that a huge df
    # does not lose it to rounding in 1 − x
    return regularized_beta(df / (df + t2), df / 2, 0.5, complement=t2 / (df + t2))


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` degrees of freedom."""
    tail = t_two_sided_tail(t, df) / 2
    return 1.0 - tail if t > 0 else tail


def t_density(t: float, df: float) -> float:
    """The density of Student's t: (1 + t²/df)^(−(df+1)/2) / (√df · B(df/2, ½))."""
    return math.exp(
        -(df + 1) / 2 * math.log1p(t * t / df) - 0.5 * math.log(df) - _log_beta(df / 2, 0.5)
    )


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (0 < p < 1).

    Newton's method on the two-sided tail from the normal quantile, kept inside a bracket
    that every step narrows and falling back to bisection when a step would leave it: as
    fast as Newton (a handful of steps) and as safe as bisection where Newton is not (few
    degrees of freedom, far tails).
    """
    if not 0 < p < 1:
        raise ValueError(f"a quantile needs 0 < p < 1, not {p!r}")
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, not {df!r}")
    if p == 0.5:
        return 0.0
    alpha = 2 * min(p, 1 - p)  # the two-sided tail beyond the quantile
    lo, hi = 0.0, math.inf
    x = -_STD_NORMAL.inv_cdf(alpha / 2)  # t's quantile lies beyond the normal one
    for _ in range(200):
        excess = t_two_sided_tail(x, df) - alpha  # decreasing in x
        if excess == 0:
            break
        if excess > 0:
            lo = x
        else:
            hi = x
        density = t_density(x, df)
        step = excess / (2 * density) if density > 0 else math.inf
        if abs(step) <= 1e-14 * x:  # the tail itself is known to ~1e-15
            x += step
            break
        x += step
        if not lo < x < hi:  # Newton overshot: bisect the bracket (or widen it)
            x = lo * 2 if math.isinf(hi) else (lo + hi) / 2
    return x if p > 0.5 else -x


# --- means -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """What Welch's test needs of one side: size, mean and (n − 1) sample variance."""

    n: int
    mean: float
    variance: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Sample:
        """Two passes with ``math.fsum``: exact enough for sums of money over millions."""
        n = len(values)
        if n == 0:
            raise ValueError("a sample needs at least one value")
        mean = math.fsum(values) / n
        variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else math.nan
        return cls(n, mean, variance)


@dataclass(frozen=True)
class Welch:
    """Welch's comparison of two means: ``difference`` = mean 1 − mean 2."""

    difference: float
    standard_error: float
    df: float
    t: float
    interval: Interval
    p_value: float


def welch(a: Sample, b: Sample, confidence: float = 0.95) -> Welch | None:
    """Welch's t interval and two-sided p-value for ``a.mean − b.mean``.

    The variances are not assumed equal (spend is far more spread among buyers of a
    treated side than among a held-out side with fewer buyers); the degrees of freedom are
    Welch–Satterthwaite's ``(va + vb)² / (va²/(na−1) + vb²/(nb−1))`` with ``v = s²/n``.
    None when it cannot be computed: fewer than two values on a side, or no variation on
    either side (every member spent the same).
    """
    _check_confidence(confidence)
    if a.n < 2 or b.n < 2:
        return None
    va, vb = a.variance / a.n, b.variance / b.n
    se2 = va + vb
    if not se2 > 0:
        return None
    se = math.sqrt(se2)
    df = se2 * se2 / (va * va / (a.n - 1) + vb * vb / (b.n - 1))
    diff = a.mean - b.mean
    t = diff / se
    half = t_quantile(0.5 + confidence / 2, df) * se
    return Welch(diff, se, df, t, Interval(diff - half, diff + half), t_two_sided_tail(t, df))


def ratio_of_means_interval(a: Sample, b: Sample, confidence: float = 0.95) -> Interval | None:
    """An interval for ``a.mean / b.mean`` by the delta method on the log scale.

    ``exp(ln(ma/mb) ± z·√(sa²/(na·ma²) + sb²/(nb·mb²)))``: the log keeps the interval
    positive and is closer to normal than the ratio itself. None when a mean is not
    positive (a side where nobody bought) or a side has fewer than two values.
    """
    if a.n < 2 or b.n < 2 or not (a.mean > 0 and b.mean > 0):
        return None
    z = z_value(confidence)
    se = math.sqrt(a.variance / (a.n * a.mean**2) + b.variance / (b.n * b.mean**2))
    log_ratio = math.log(a.mean / b.mean)
    return Interval(math.exp(log_ratio - z * se), math.exp(log_ratio + z * se))
