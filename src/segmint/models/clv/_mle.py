"""Maximum likelihood for the CLV models: log-parameterised, several starts, standard errors.

One routine shared by BG/NBD, Pareto/NBD and Gamma-Gamma. It minimises the weighted mean negative
log-likelihood (+ an optional L2 penalty on the parameters) over log-parameters:

1. **large data** (more than :data:`SUBSAMPLE` rows): fit a fixed, seeded subsample of the rows
   first; its estimate and curvature start Newton iterations on all rows (the subsample's
   Hessian approximates the full one, so each step gains digits at the cost of one gradient);
2. otherwise, or if that fails: L-BFGS-B from the first starting point, further starting points
   only if a run fails, then a few Newton steps on a numerical Hessian;
3. standard errors from the inverse observed information: the Hessian of the total negative
   log-likelihood in log-parameters (finite differences of the gradient), mapped to the natural
   parameters with the delta method (``se(θ) = θ · se(log θ)``).

Either way the answer is the maximum over all rows (to ~1e-8 relative); the subsample only
chooses where to start. Failures raise :class:`~segmint.errors.DataError` naming the model, the
parameter that ran off and what to try.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from segmint.errors import DataError

#: log-parameters are kept within ±LOG_BOUND (1e-8 … 1e8); an estimate at the bound diverged.
LOG_BOUND = 18.42
#: mean-scale gradient (per customer, in log-parameters) below which a fit counts as converged.
GRADIENT_TOL = 1e-5
#: above this many rows, a subsample of this size is fitted first to find the starting point.
SUBSAMPLE = 50_000
#: seed of the subsample (fixed: fits are deterministic).
SUBSAMPLE_SEED = 20050101

#: ``objective(theta) -> (weighted log-likelihood, its gradient w.r.t. theta or None)``
Objective = Callable[[np.ndarray], tuple[float, np.ndarray | None]]


@dataclass
class MLEResult:
    """What :func:`fit_mle` found."""

    params: np.ndarray
    log_likelihood: float
    covariance: np.ndarray
    standard_errors: np.ndarray
    info: dict = field(default_factory=dict)


class _Problem:
    """The mean penalised negative log-likelihood in log-parameters, with its gradient."""

    def __init__(self, objective: Objective, wsum: float, penalizer: float, analytic: bool, k):
        self.objective, self.wsum, self.penalizer = objective, wsum, penalizer
        self.analytic, self.k = analytic, k

    def value(self, logp: np.ndarray) -> float:
        theta = np.exp(logp)
        ll = self.objective(theta)[0]
        v = -ll / self.wsum + self.penalizer * float(theta @ theta)
        return v if np.isfinite(v) else 1e10

    def value_and_grad(self, logp: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.exp(logp)
        if not self.analytic:
            v = self.value(logp)
            return v, self._numeric_grad(logp)
        ll, g = self.objective(theta)
        v = -ll / self.wsum + self.penalizer * float(theta @ theta)
        grad = (-g / self.wsum + 2 * self.penalizer * theta) * theta
        if not (np.isfinite(v) and np.all(np.isfinite(grad))):
            return 1e10, np.zeros(self.k)
        return v, grad

    def grad(self, logp: np.ndarray) -> np.ndarray:
        return self.value_and_grad(logp)[1]

    def _numeric_grad(self, logp: np.ndarray, h: float = 1e-6) -> np.ndarray:
        g = np.empty(self.k)
        for i in range(self.k):
            e = np.zeros(self.k)
            e[i] = h
            g[i] = (self.value(logp + e) - self.value(logp - e)) / (2 * h)
        return g

    def hessian(self, logp: np.ndarray, g0: np.ndarray | None = None) -> np.ndarray:
        """Forward differences of an analytic gradient, else central second differences."""
        H = np.empty((self.k, self.k))
        if self.analytic:
            h = 1e-6
            g0 = self.grad(logp) if g0 is None else g0
            for i in range(self.k):
                e = np.zeros(self.k)
                e[i] = h
                H[i] = (self.grad(logp + e) - g0) / h
        else:  # second differences of the value: 1 + 2k + 2k(k-1) evaluations
            h = 1e-4
            f0 = self.value(logp)
            eye = np.eye(self.k) * h
            plus = [self.value(logp + eye[i]) for i in range(self.k)]
            minus = [self.value(logp - eye[i]) for i in range(self.k)]
            for i in range(self.k):
                H[i, i] = (plus[i] - 2 * f0 + minus[i]) / h**2
                for j in range(i):
                    H[i, j] = H[j, i] = (
                        self.value(logp + eye[i] + eye[j])
                        - self.value(logp + eye[i] - eye[j])
                        - self.value(logp - eye[i] + eye[j])
                        + self.value(logp - eye[i] - eye[j])
                    ) / (4 * h**2)
        return (H + H.T) / 2


def _newton(problem: _Problem, x: np.ndarray, H: np.ndarray, steps: int, tol: float):
    """Newton iterations with matrix ``H`` and step halving; returns (x, f, g, steps taken).

    A step is kept if the objective does not rise beyond rounding noise; iterations stop at
    gradient ``tol`` or when no step helps (at the optimum, to machine precision).
    """
    f, g = problem.value_and_grad(x)
    done = 0
    for _ in range(steps):
        if np.max(np.abs(g)) < tol:
            break
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        noise = 1e-13 * max(1.0, abs(f))
        for t in (1.0, 0.5, 0.25, 0.125):
            trial = np.clip(x - t * step, -LOG_BOUND, LOG_BOUND)
            ft, gt = problem.value_and_grad(trial)
            if ft <= f + noise:
                break
        else:
            break
        improved = np.max(np.abs(gt)) < np.max(np.abs(g)) or ft < f - noise
        x, f, g = trial, ft, gt
        done += 1
        if not improved:
            break
    return x, f, g, done


def fit_mle(
    *,
    model_name: str,
    names: Sequence[str],
    make_objective: Callable[[np.ndarray | None], tuple[Objective, float]],
    n_rows: int,
    starts: Sequence[Sequence[float]],
    penalizer: float,
    max_iter: int,
    n_starts: int,
    analytic_gradient: bool,
    divergence_hints: dict[str, str] | None = None,
) -> MLEResult:
    """Maximise the weighted log-likelihood over θ > 0 (see the module docstring).

    ``make_objective(rows)`` returns ``(objective, total weight)`` for a subset of rows
    (``None`` = all rows).
    """
    k = len(names)
    objective, wsum = make_objective(None)
    problem = _Problem(objective, wsum, penalizer, analytic_gradient, k)
    attempts: list[dict] = []
    full_hessian = None
    starts = [np.log(np.asarray(s, dtype=float)) for s in list(starts)[: max(1, n_starts)]]

    if n_rows > SUBSAMPLE:
        rows = np.sort(
            np.random.default_rng(SUBSAMPLE_SEED).choice(n_rows, SUBSAMPLE, replace=False)
        )
        sub_obj, sub_w = make_objective(rows)
        sub = _Problem(sub_obj, sub_w, penalizer, analytic_gradient, k)
        sub_attempt = _run_starts(sub, starts, max_iter, k)[-1]
        if sub_attempt["ok"]:
            x0 = sub_attempt["x"]
            # the subsample's curvature steers the first steps, the full one the last
            x, f, g, done = _newton(problem, x0, sub.hessian(x0), steps=3, tol=1e-10)
            if np.all(np.isfinite(x)):
                full_hessian = (x, problem.hessian(x, g))
                x, f, g, more = _newton(problem, x, full_hessian[1], steps=20, tol=1e-10)
                done += more
            gnorm = float(np.max(np.abs(g)))
            at_bound = np.abs(x) >= LOG_BOUND - 1e-3
            attempt = {
                "start": "subsample",
                "x": x,
                "value": f,
                "gradient_norm": gnorm,
                "iterations": done,
                "newton_steps": done,
                "message": f"Newton from a {SUBSAMPLE:,}-row subsample fit",
                "at_bound": at_bound,
                "ok": bool(gnorm < GRADIENT_TOL and not at_bound.any()),
            }
            attempts.append(attempt)
            starts = [] if attempt["ok"] else [x0, *starts]

    if starts and not any(a["ok"] for a in attempts):
        attempts.extend(_run_starts(problem, starts, max_iter, k))

    good = [a for a in attempts if a.get("ok")]
    if not good:
        _raise_not_converged(model_name, names, attempts, divergence_hints or {})
    best = min(good, key=lambda a: a["value"])
    x = best["x"]
    g = problem.grad(x)
    if full_hessian is not None and best["start"] == "subsample":
        H = full_hessian[1]  # taken a few Newton steps back: the same to ~1e-6
    else:
        H = problem.hessian(x, g)
    # one last Newton step with the full Hessian (cheap, and squeezes the last digits)
    x2, _, g2, done = _newton(problem, x, H, steps=2, tol=1e-12)
    if done:  # the step is tiny: the Hessian at x serves for the standard errors
        x, g = x2, g2
    theta = np.exp(x)
    ll_total = float(objective(theta)[0])
    _check_curvature(model_name, names, x, H, divergence_hints or {})
    H_total = H * wsum
    try:
        cov_log = np.linalg.inv(H_total)
    except np.linalg.LinAlgError:
        cov_log = np.full((k, k), np.nan)
    cov = cov_log * np.outer(theta, theta)
    se = np.sqrt(np.diag(cov))
    info = {
        "start": best["start"],
        "iterations": best["iterations"],
        "newton_steps": best["newton_steps"] + done,
        "gradient_norm": float(np.max(np.abs(g))),
        "optimizer_message": best["message"],
        "attempts": len([a for a in attempts if "x" in a]),
    }
    return MLEResult(theta, ll_total, cov, se, info)


def _run_starts(problem: _Problem, starts, max_iter: int, k: int) -> list[dict]:
    """L-BFGS-B + Newton polish from each start until one converges (the last one returned)."""
    tried = []
    for i, x0 in enumerate(starts):
        if problem.value(x0) >= 1e10:
            tried.append({"start": i, "ok": False, "reason": "non-finite likelihood at start"})
            continue
        res = minimize(
            problem.value_and_grad,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * k,
            options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20},
        )
        x, f, g, done = res.x, float(res.fun), None, 0
        g = problem.grad(x)
        if np.max(np.abs(g)) > 1e-11 and np.all(np.abs(x) < LOG_BOUND - 1e-3):
            H = problem.hessian(x, g)
            if np.all(np.isfinite(H)):
                x, f, g, done = _newton(problem, x, H, steps=5, tol=1e-11)
        gnorm = float(np.max(np.abs(g)))
        at_bound = np.abs(x) >= LOG_BOUND - 1e-3
        attempt = {
            "start": i,
            "x": x,
            "value": f,
            "gradient_norm": gnorm,
            "iterations": int(res.nit),
            "newton_steps": done,
            "message": str(res.message),
            "at_bound": at_bound,
            "ok": bool(gnorm < GRADIENT_TOL and not at_bound.any()),
        }
        tried.append(attempt)
        if attempt["ok"]:
            break
    return tried


def _hint(hints, name: str, upward: bool) -> str:
    hint = hints.get(name, "the data cannot pin this parameter down")
    if upward:
        return f"{hint}; a small penalizer (e.g. penalizer=0.001) keeps it finite."
    return f"{hint}."


def _check_curvature(model_name, names, x, H, hints) -> None:
    """At a maximum the curvature is positive in every direction; if it is (numerically) flat,
    the optimiser stopped on a ridge where a parameter drifts off: refuse the fit."""
    if not np.all(np.isfinite(H)):
        eig, vec = np.array([-1.0]), np.eye(len(names))[:, :1]
    else:
        eig, vec = np.linalg.eigh(H)
    if eig[0] > 1e-10 * max(abs(eig[-1]), 1e-300):
        return
    i = int(np.argmax(np.abs(vec[:, 0])))
    name = names[i]
    raise DataError(
        f"{model_name} did not converge: the likelihood is flat along parameter '{name}', "
        f"which drifted to {np.exp(x[i]):.3g}.",
        hint=_hint(hints, name, upward=x[i] > 0),
    )


def _raise_not_converged(model_name, names, attempts, hints) -> None:
    tried = [a for a in attempts if "x" in a]
    if not tried:
        raise DataError(
            f"{model_name} could not start fitting: the log-likelihood is not finite at any "
            "starting point.",
            hint="check the inputs for extreme values (e.g. monetary values near 0 or huge "
            "frequencies).",
        )
    best = min(tried, key=lambda a: a["value"])
    ran_off = [n for n, b in zip(names, best["at_bound"], strict=True) if b]
    if ran_off:
        name = ran_off[0]
        logv = float(best["x"][list(names).index(name)])
        raise DataError(
            f"{model_name} did not converge: parameter '{name}' ran off to {np.exp(logv):.3g} "
            "(the likelihood keeps improving as it moves).",
            hint=_hint(hints, name, upward=logv > 0),
        )
    raise DataError(
        f"{model_name} did not converge after {len(tried)} start(s): the gradient is still "
        f"{best['gradient_norm']:.2g} ({best['message']}).",
        hint="try a larger max_iter, more n_starts, or a small penalizer (e.g. 0.001).",
    )
