"""A/B test statistics for campaigns: conversion and revenue per recipient (layer 3, pure).

Everything works on counts and sums a query already condensed (recipients, conversions, revenue
and the sum of squared revenue per group), so a test over a million recipients moves a handful
of numbers, not a million rows.

Conversion (did the recipient order within the attribution window?):
    - **two-proportion z-test** with the pooled standard error, two-sided;
    - **Pearson chi-square** on the 2×2 table (converted / not × A / B), without the continuity
      correction by default (then chi² = z² and both give the same p-value; ``correction=True``
      gives Yates's, as ``scipy.stats.chi2_contingency`` does by default);
    - a **Newcombe (Wilson score) interval** for the difference in rates, which stays inside
      [-1, 1] and behaves with few or zero conversions, unlike the textbook Wald interval.
Revenue per recipient (zeros included for those who did not buy):
    - **Welch's t-test** (unequal variances, Welch–Satterthwaite degrees of freedom) and its
      interval for the difference in means.

Guard rails: with fewer than :data:`MIN_GROUP` recipients in a group, or no conversions at all,
the verdict says so instead of quoting a p-value; when a difference is not significant the
verdict says how many recipients per group would be needed to detect a difference of the size
observed (two-sided α = 0.05, power 0.8).

Verdicts read the same in English and Traditional Chinese, e.g.
``B converts better than A (4.1 % vs 2.9 %, p = 0.01)`` /
``B 的轉換率高於 A（4.1% 對 2.9%，p = 0.01）``.

Example:
    >>> a, b = GroupStats("A", 1000, 29), GroupStats("B", 1000, 51)
    >>> r = compare_conversion(a, b)
    >>> round(r.p_value, 4), r.verdict_en
    (0.0121, 'B converts better than A (5.1 % vs 2.9 %, p = 0.012).')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from scipy import stats

from segmint.errors import ValidationError

__all__ = [
    "ALPHA",
    "MIN_GROUP",
    "POWER",
    "ConversionTest",
    "GroupStats",
    "RevenueTest",
    "chi_square_2x2",
    "compare_conversion",
    "compare_revenue",
    "format_p",
    "lift",
    "newcombe_interval",
    "sample_size_two_proportions",
    "two_proportion_ztest",
    "welch_ttest",
    "wilson_interval",
]

#: Significance level of the verdicts (two-sided).
ALPHA = 0.05
#: Power used for the "recipients needed" figure.
POWER = 0.8
#: Fewer recipients than this in a group: no verdict, only "too few recipients".
MIN_GROUP = 30


@dataclass(frozen=True)
class GroupStats:
    """What one group (a variant or the holdout) condensed to.

    ``revenue`` is the total over recipients, ``revenue_sq`` the total of squared revenue per
    recipient (for the variance); both may be left at 0 when only conversion is tested.

    >>> GroupStats("A", 4, 1, revenue=10.0, revenue_sq=100.0).revenue_var
    25.0
    """

    name: str
    n: int
    conversions: int
    revenue: float = 0.0
    revenue_sq: float = 0.0

    def __post_init__(self) -> None:
        for what, v in (("n", self.n), ("conversions", self.conversions)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValidationError(
                    f"'{what}' of group '{self.name}' must be a whole number ≥ 0. Got {v!r}."
                )
        if self.conversions > self.n:
            raise ValidationError(
                f"Group '{self.name}' has more conversions ({self.conversions}) than "
                f"recipients ({self.n}).",
                hint="count each recipient once (converted or not).",
            )

    @property
    def rate(self) -> float:
        """Conversion rate (0 for an empty group)."""
        return self.conversions / self.n if self.n else 0.0

    @property
    def revenue_mean(self) -> float:
        return self.revenue / self.n if self.n else 0.0

    @property
    def revenue_var(self) -> float:
        """Sample variance of revenue per recipient (ddof = 1; 0 below two recipients)."""
        if self.n < 2:
            return 0.0
        var = (self.revenue_sq - self.n * self.revenue_mean**2) / (self.n - 1)
        return max(var, 0.0)  # rounding can make a zero variance slightly negative


# -- the tests ------------------------------------------------------------------------------------
def two_proportion_ztest(x_a: int, n_a: int, x_b: int, n_b: int) -> tuple[float, float]:
    """(z, two-sided p) for rate B − rate A with the pooled standard error.

    No conversions at all (or only conversions) leaves nothing to test: (0.0, 1.0).

    >>> z, p = two_proportion_ztest(29, 1000, 51, 1000)
    >>> round(z, 3), round(p, 4)
    (2.51, 0.0121)
    """
    _check_counts(x_a, n_a, x_b, n_b)
    pooled = (x_a + x_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 0.0, 1.0
    z = (x_b / n_b - x_a / n_a) / se
    return z, float(2 * stats.norm.sf(abs(z)))


def chi_square_2x2(
    x_a: int, n_a: int, x_b: int, n_b: int, *, correction: bool = False
) -> tuple[float, float]:
    """(chi², p) of the 2×2 table, one degree of freedom; Yates's correction when asked.

    >>> chi2, p = chi_square_2x2(29, 1000, 51, 1000)
    >>> round(chi2, 3), round(p, 4)
    (6.302, 0.0121)
    """
    _check_counts(x_a, n_a, x_b, n_b)
    observed = ((x_a, n_a - x_a), (x_b, n_b - x_b))
    total = n_a + n_b
    cols = (x_a + x_b, total - x_a - x_b)
    if 0 in cols:
        return 0.0, 1.0
    chi2 = 0.0
    for row, n_row in zip(observed, (n_a, n_b), strict=True):
        for obs, n_col in zip(row, cols, strict=True):
            expected = n_row * n_col / total
            diff = abs(obs - expected)
            if correction:
                diff = max(diff - 0.5, 0.0)
            chi2 += diff * diff / expected
    return chi2, float(stats.chi2.sf(chi2, 1))


def welch_ttest(a: GroupStats, b: GroupStats) -> tuple[float, float, float]:
    """(t, degrees of freedom, two-sided p) for mean revenue B − A (Welch).

    Both variances zero (everyone spent the same) leaves nothing to test: (nan, nan, nan).
    """
    if a.n < 2 or b.n < 2:
        raise ValidationError(
            f"Welch's t-test needs at least 2 recipients per group. Got {a.n} and {b.n}."
        )
    va, vb = a.revenue_var / a.n, b.revenue_var / b.n
    se2 = va + vb
    if se2 == 0:
        return math.nan, math.nan, math.nan
    t = (b.revenue_mean - a.revenue_mean) / math.sqrt(se2)
    df = se2**2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    return t, df, float(2 * stats.t.sf(abs(t), df))


def wilson_interval(x: int, n: int, *, alpha: float = ALPHA) -> tuple[float, float]:
    """Wilson score interval for a proportion.

    >>> [round(v, 4) for v in wilson_interval(0, 50)]
    [0.0, 0.0713]
    """
    if n == 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(
    x_a: int, n_a: int, x_b: int, n_b: int, *, alpha: float = ALPHA
) -> tuple[float, float]:
    """Interval for rate B − rate A (Newcombe 1998, method 10: hybrid Wilson score).

    >>> [round(v, 4) for v in newcombe_interval(29, 1000, 51, 1000)]
    [0.0048, 0.0397]
    """
    _check_counts(x_a, n_a, x_b, n_b)
    pa, pb = x_a / n_a, x_b / n_b
    la, ua = wilson_interval(x_a, n_a, alpha=alpha)
    lb, ub = wilson_interval(x_b, n_b, alpha=alpha)
    d = pb - pa
    return d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2), d + math.sqrt(
        (ub - pb) ** 2 + (pa - la) ** 2
    )


def sample_size_two_proportions(
    p_a: float, p_b: float, *, alpha: float = ALPHA, power: float = POWER
) -> int | None:
    """Recipients per group to detect rates ``p_a`` vs ``p_b`` (two-sided); None when equal.

    >>> sample_size_two_proportions(0.029, 0.041)
    3681
    """
    if p_a == p_b:
        return None
    za, zb = float(stats.norm.ppf(1 - alpha / 2)), float(stats.norm.ppf(power))
    pbar = (p_a + p_b) / 2
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b))
    return math.ceil(num**2 / (p_a - p_b) ** 2)


def lift(treated: GroupStats, holdout: GroupStats) -> float | None:
    """Relative conversion lift over the holdout (0.25 = +25 %); None without holdout converts.

    >>> lift(GroupStats("A", 100, 5), GroupStats("holdout", 100, 4))
    0.25
    """
    if holdout.n == 0 or holdout.conversions == 0:
        return None
    return treated.rate / holdout.rate - 1


# -- results with verdicts ------------------------------------------------------------------------
@dataclass(frozen=True)
class ConversionTest:
    """Conversion of ``b`` against ``a``: the tests, the interval and the verdicts."""

    a: GroupStats
    b: GroupStats
    z: float
    p_value: float
    chi2: float
    chi2_p_value: float
    ci_low: float
    ci_high: float
    needed_per_group: int | None
    significant: bool
    verdict_en: str
    verdict_zh_hant: str
    test: str = "two-proportion z-test (pooled), Pearson chi-square, Newcombe interval"
    warnings: tuple[str, ...] = field(default=())

    @property
    def difference(self) -> float:
        return self.b.rate - self.a.rate

    def verdict(self, lang: str = "en") -> str:
        return self.verdict_zh_hant if lang.lower().startswith("zh") else self.verdict_en


@dataclass(frozen=True)
class RevenueTest:
    """Mean revenue per recipient of ``b`` against ``a`` (Welch)."""

    a: GroupStats
    b: GroupStats
    t: float
    df: float
    p_value: float
    ci_low: float
    ci_high: float
    significant: bool
    verdict_en: str
    verdict_zh_hant: str
    test: str = "Welch's t-test (unequal variances)"

    @property
    def difference(self) -> float:
        return self.b.revenue_mean - self.a.revenue_mean

    def verdict(self, lang: str = "en") -> str:
        return self.verdict_zh_hant if lang.lower().startswith("zh") else self.verdict_en


def format_p(p: float) -> str:
    """``p = 0.012``, ``p < 0.001``; two significant digits.

    >>> format_p(0.0123), format_p(0.41), format_p(0.00002)
    ('p = 0.012', 'p = 0.41', 'p < 0.001')
    """
    if math.isnan(p):
        return "p = n/a"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2g}"


def _n(group: GroupStats, lang: str) -> str:
    """A group's name in a verdict; the holdout reads "the holdout" / "對照組"."""
    if group.name == "holdout":
        return "the holdout" if lang == "en" else "對照組"
    return group.name


def _pct(rate: float, lang: str) -> str:
    return f"{100 * rate:.1f}{' ' if lang == 'en' else ''}%"


def compare_conversion(a: GroupStats, b: GroupStats, *, alpha: float = ALPHA) -> ConversionTest:
    """Test conversion of ``b`` against ``a`` and say what it means, in both languages.

    >>> r = compare_conversion(GroupStats("A", 1000, 29), GroupStats("B", 1000, 33))
    >>> r.significant, r.verdict_en.split(" (")[0]
    (False, 'Not enough evidence yet that B and A convert differently')
    """
    if a.n == 0 or b.n == 0:
        raise ValidationError(
            f"Both groups need recipients to compare. Got {a.name}: {a.n}, {b.name}: {b.n}."
        )
    z, p = two_proportion_ztest(a.conversions, a.n, b.conversions, b.n)
    chi2, chi2_p = chi_square_2x2(a.conversions, a.n, b.conversions, b.n)
    low, high = newcombe_interval(a.conversions, a.n, b.conversions, b.n, alpha=alpha)
    needed = sample_size_two_proportions(a.rate, b.rate, alpha=alpha)
    warnings = []
    expected_min = min(
        n * c / (a.n + b.n)
        for n in (a.n, b.n)
        for c in (a.conversions + b.conversions, a.n + b.n - a.conversions - b.conversions)
    )
    if 0 < expected_min < 5:
        warnings.append(
            "Some expected counts are below 5: the normal approximation is rough; "
            "wait for more recipients before deciding."
        )
    too_few = min(a.n, b.n) < MIN_GROUP
    none = a.conversions + b.conversions == 0
    significant = not too_few and not none and p < alpha
    en, zh = _conversion_verdicts(a, b, p, needed, too_few=too_few, none=none, sig=significant)
    return ConversionTest(
        a, b, z, p, chi2, chi2_p, low, high, needed, significant, en, zh,
        warnings=tuple(warnings),
    )  # fmt: skip


def _conversion_verdicts(a, b, p, needed, *, too_few, none, sig) -> tuple[str, str]:
    ra_en, rb_en = _pct(a.rate, "en"), _pct(b.rate, "en")
    ra_zh, rb_zh = _pct(a.rate, "zh"), _pct(b.rate, "zh")
    pt = format_p(p)
    if too_few:
        n = min(a.n, b.n)
        return (
            f"Too few recipients to judge yet: {n:,} in the smallest group, at least "
            f"{MIN_GROUP} are needed ({_n(b, 'en')} {rb_en} vs {_n(a, 'en')} {ra_en}).",
            f"收件人太少，暫時無法判斷：最小的組別只有 {n:,} 人，至少需要 {MIN_GROUP} 人"
            f"（{_n(b, 'zh')} {rb_zh} 對 {_n(a, 'zh')} {ra_zh}）。",
        )
    if none:
        return (
            f"No conversions yet in {_n(a, 'en')} or {_n(b, 'en')}: nothing to compare so far.",
            f"{_n(a, 'zh')} 及 {_n(b, 'zh')} 暫時都沒有轉換，尚無可比較的結果。",
        )
    if sig:
        hi, lo = (b, a) if b.rate > a.rate else (a, b)
        return (
            f"{_n(hi, 'en')} converts better than {_n(lo, 'en')} "
            f"({_pct(hi.rate, 'en')} vs {_pct(lo.rate, 'en')}, {pt}).",
            f"{_n(hi, 'zh')} 的轉換率高於 {_n(lo, 'zh')}"
            f"（{_pct(hi.rate, 'zh')} 對 {_pct(lo.rate, 'zh')}，{pt}）。",
        )
    have = min(a.n, b.n)
    if needed is None:
        tail_en = " Both convert at the same rate so far."
        tail_zh = "目前兩者的轉換率相同。"
    elif needed > have:
        tail_en = (
            f" To detect a difference this size, about {needed:,} recipients per group are "
            f"needed (the smallest group has {have:,})."
        )
        tail_zh = (
            f"要檢測到這樣大小的差異，每組約需 {needed:,} 名收件人"
            f"（最小的組別目前有 {have:,} 名）。"
        )
    else:
        tail_en = " The groups are large enough: the difference is probably small or none."
        tail_zh = "樣本已足夠：差異可能很小或不存在。"
    return (
        f"Not enough evidence yet that {_n(b, 'en')} and {_n(a, 'en')} convert differently "
        f"({rb_en} vs {ra_en}, {pt}).{tail_en}",
        f"證據尚不足以說明 {_n(b, 'zh')} 與 {_n(a, 'zh')} 的轉換率不同"
        f"（{rb_zh} 對 {ra_zh}，{pt}）。{tail_zh}",
    )


def compare_revenue(a: GroupStats, b: GroupStats, *, alpha: float = ALPHA) -> RevenueTest:
    """Welch's t-test of revenue per recipient of ``b`` against ``a``, with verdicts.

    >>> a = GroupStats("A", 100, 10, revenue=1000.0, revenue_sq=100_000.0)
    >>> b = GroupStats("B", 100, 20, revenue=2000.0, revenue_sq=200_000.0)
    >>> compare_revenue(a, b).verdict_en
    'B brings more revenue per recipient than A (20.00 vs 10.00, p = 0.048).'
    """
    t, df, p = welch_ttest(a, b)
    diff = b.revenue_mean - a.revenue_mean
    if math.isnan(t):
        low = high = diff
    else:
        half = float(stats.t.ppf(1 - alpha / 2, df)) * math.sqrt(
            a.revenue_var / a.n + b.revenue_var / b.n
        )
        low, high = diff - half, diff + half
    too_few = min(a.n, b.n) < MIN_GROUP
    sig = not too_few and not math.isnan(p) and p < alpha
    ma, mb, pt = f"{a.revenue_mean:,.2f}", f"{b.revenue_mean:,.2f}", format_p(p)
    if too_few:
        en = f"Too few recipients to judge revenue yet (at least {MIN_GROUP} per group)."
        zh = f"收件人太少，暫時無法判斷收入差異（每組至少需要 {MIN_GROUP} 人）。"
    elif math.isnan(p):
        en = (
            "Revenue per recipient is the same for everyone "
            f"({_n(b, 'en')} {mb} vs {_n(a, 'en')} {ma})."
        )
        zh = f"每名收件人的收入完全相同（{_n(b, 'zh')} {mb} 對 {_n(a, 'zh')} {ma}）。"
    elif sig:
        hi, lo = (b, a) if diff > 0 else (a, b)
        en = (
            f"{_n(hi, 'en')} brings more revenue per recipient than {_n(lo, 'en')} "
            f"({hi.revenue_mean:,.2f} vs {lo.revenue_mean:,.2f}, {pt})."
        )
        zh = (
            f"{_n(hi, 'zh')} 每名收件人帶來的收入高於 {_n(lo, 'zh')}"
            f"（{hi.revenue_mean:,.2f} 對 {lo.revenue_mean:,.2f}，{pt}）。"
        )
    else:
        en = (
            "Not enough evidence yet that revenue per recipient differs "
            f"({_n(b, 'en')} {mb} vs {_n(a, 'en')} {ma}, {pt})."
        )
        zh = (
            "證據尚不足以說明每名收件人的收入有差異"
            f"（{_n(b, 'zh')} {mb} 對 {_n(a, 'zh')} {ma}，{pt}）。"
        )
    return RevenueTest(a, b, t, df, p, low, high, sig, en, zh)


def _check_counts(x_a: int, n_a: int, x_b: int, n_b: int) -> None:
    for x, n in ((x_a, n_a), (x_b, n_b)):
        if n <= 0 or not 0 <= x <= n:
            raise ValidationError(
                f"Counts must satisfy 0 ≤ conversions ≤ recipients and recipients > 0. "
                f"Got {x} of {n} instead."
            )
