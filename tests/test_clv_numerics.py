"""The likelihood math: gradients, the fast pattern objectives, and the hypergeometric corners."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import hyp2f1

from segmint.models.clv import BetaGeoModel, ParetoNBDModel
from segmint.models.clv.likelihoods import (
    BGNBDPatterns,
    GammaGammaPatterns,
    bgnbd_log_likelihood,
    bgnbd_log_likelihood_and_gradient,
    gamma_gamma_log_likelihood,
    gamma_gamma_log_likelihood_and_gradient,
    log_hyp2f1,
    pareto_nbd_log_integral,
    pareto_nbd_log_likelihood,
)


def _data(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, n).astype(float)
    T = rng.uniform(1, 100, n)
    tx = np.where(x > 0, T * rng.uniform(0, 1, n), 0.0)
    w = rng.integers(1, 5, n).astype(float)
    m = rng.gamma(3.0, 10.0, n)
    return x, tx, T, w, m


def _numeric_grad(f, theta, h=1e-6):
    theta = np.asarray(theta, dtype=float)
    out = []
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h * theta[i]
        out.append((f(theta + e) - f(theta - e)) / (2 * e[i]))
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bgnbd_gradient_matches_finite_differences(seed):
    x, tx, T, w, _ = _data(seed)
    theta = np.array([0.4, 12.0, 0.8, 3.0]) * (1 + 0.3 * seed)
    _, g = bgnbd_log_likelihood_and_gradient(theta, x, tx, T)
    num = _numeric_grad(lambda th: float(w @ bgnbd_log_likelihood(th, x, tx, T)), theta)
    np.testing.assert_allclose(w @ g, num, rtol=1e-6)
    ll, g_fast = BGNBDPatterns(x, tx, T, w)(theta)
    assert ll == pytest.approx(float(w @ bgnbd_log_likelihood(theta, x, tx, T)), rel=1e-12)
    np.testing.assert_allclose(g_fast, w @ g, rtol=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_gamma_gamma_gradient_matches_finite_differences(seed):
    x, _, _, w, m = _data(seed)
    x = np.maximum(x, 1.0)
    theta = np.array([5.0, 3.0, 20.0]) * (1 + 0.5 * seed)
    _, g = gamma_gamma_log_likelihood_and_gradient(theta, x, m)
    num = _numeric_grad(lambda th: float(w @ gamma_gamma_log_likelihood(th, x, m)), theta)
    np.testing.assert_allclose(w @ g, num, rtol=1e-6)
    ll, g_fast = GammaGammaPatterns(x, m, w)(theta)
    assert ll == pytest.approx(float(w @ gamma_gamma_log_likelihood(theta, x, m)), rel=1e-12)
    np.testing.assert_allclose(g_fast, w @ g, rtol=1e-10)


def _exact_log_integral(mp, r, alpha, s, beta, x, tx, T):
    """High-precision closed form (mpmath), the reference for the Pareto/NBD integral."""
    r, alpha, s, beta, x, tx, T = map(mp.mpf, (r, alpha, s, beta, x, tx, T))
    k = r + s + x
    big, diff = max(alpha, beta), abs(alpha - beta)
    b = s + 1 if alpha >= beta else r + x

    def F(t):
        return mp.hyp2f1(k, b, k + 1, diff / (big + t)) / (big + t) ** k

    return float(mp.log((F(tx) - F(T)) / k))


def test_pareto_nbd_integral_is_accurate_where_hyp2f1_fails():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 60
    rng = np.random.default_rng(7)
    worst = 0.0
    for _ in range(120):
        r, s = 10 ** rng.uniform(-2, 1.5, 2)
        alpha, beta = 10 ** rng.uniform(-3, 3, 2)
        x = float(rng.integers(0, 600)) if rng.random() < 0.6 else float(rng.integers(0, 5))
        T = 10 ** rng.uniform(-1, 2.5)
        tx = T * rng.uniform(0, 1) if x > 0 else 0.0
        if x > 0 and rng.random() < 0.15:
            tx = T * (1 - 10 ** rng.uniform(-9, -3))  # last purchase right at the end
        got = pareto_nbd_log_integral((r, alpha, s, beta), [x], [tx], [T])[0]
        want = _exact_log_integral(mp, r, alpha, s, beta, x, tx, T)
        worst = max(worst, abs(got - want) / max(1.0, abs(want)))
    assert worst < 1e-10


def test_pareto_nbd_likelihood_stays_finite_in_the_corner_lifetimes_breaks():
    # large frequency, α ≫ β and small recency: scipy's hyp2f1 returns nan here
    theta, x, tx, T = (0.13442305, 746.86663, 0.54551979, 0.01542614), 245.0, 0.73494338, 90.0
    rsx = theta[0] + theta[2] + x
    z = (theta[1] - theta[3]) / (theta[1] + tx)
    assert not np.isfinite(hyp2f1(rsx, theta[2] + 1, rsx + 1, z))  # the trap is real
    ll = pareto_nbd_log_likelihood(theta, [x], [tx], [T])
    assert np.isfinite(ll).all()
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 60
    want = _exact_log_integral(mp, *theta, x, tx, T)
    assert pareto_nbd_log_integral(theta, [x], [tx], [T])[0] == pytest.approx(want, rel=1e-11)


def test_log_hyp2f1_matches_mpmath_including_overflow():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    cases = [
        (0.5, 2.0, 3.2, 0.3),
        (250.0, 252.0, 502.0, 0.6),
        (1.5, 40.0, 40.5, 0.9),
        (3.0, 500.0, 510.0, 0.5),
    ]
    for a, b, c, z in cases:
        got = float(log_hyp2f1(a, b, c, z))
        want = float(mp.log(mp.hyp2f1(a, b, c, z)))
        assert got == pytest.approx(want, rel=1e-10), (a, b, c, z)


def test_bgnbd_expected_purchases_for_heavy_buyers_are_accurate():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    m = BetaGeoModel.from_params(r=r, alpha=alpha, a=a, b=b)
    x = np.array([0, 1, 50, 300, 1000], dtype=float)
    T = np.full(5, 38.86)
    e = m.expected_purchases(52, x, np.where(x > 0, T, 0.0), T)  # all just bought
    assert np.all(np.diff(e) > 0)  # more past purchases → more expected
    for xi, ei in zip(x, e, strict=True):
        if xi == 0:
            continue
        ratio = mp.mpf(alpha + 38.86) / (alpha + 38.86 + 52)
        z = mp.mpf(52) / (alpha + 38.86 + 52)
        inner = 1 - ratio ** (r + xi) * mp.hyp2f1(r + xi, b + xi, a + b + xi - 1, z)
        want = (a + b + xi - 1) / (a - 1) * inner / (1 + a / (b + xi - 1))
        assert ei == pytest.approx(float(want), rel=1e-9), xi


def test_pareto_nbd_expected_purchases_at_s_equal_one_is_the_limit():
    near = ParetoNBDModel.from_params(r=0.5, alpha=10.0, s=1.0 + 1e-7, beta=12.0)
    at = ParetoNBDModel.from_params(r=0.5, alpha=10.0, s=1.0, beta=12.0)
    args = (39.0, [2.0, 0.0], [20.0, 0.0], [38.0, 38.0])
    np.testing.assert_allclose(
        at.expected_purchases(*args), near.expected_purchases(*args), rtol=1e-6
    )
    assert at.expected_purchases_new_customer(39.0) == pytest.approx(
        near.expected_purchases_new_customer(39.0), rel=1e-6
    )
