"""Kernel gradient descent in plain numpy: the reference for ntkfast.dynamics (same signatures,
same validation, same results up to rounding).

Time convention (ntk-math.md §4): C = (1/N) Σ_i ℓ(f(x_i), y_i), ∂_t f = −(1/N) K d, t = lr × steps.
Written to be read: the closed forms build T_t and exp(−tK/N) explicitly per time, the
integrators carry the test outputs as extra ODE state.
"""
from __future__ import annotations

import numpy as np

from .. import _dynamics_args as args
from .. import _dynamics_losses as losses
from .. import _dynamics_results as results
from .. import _interruptible as interruptible
from .. import _regression as regression
from .. import _spectral as spectral
from .._dynamics_results import EnsembleResult, KernelGDResult
from .._thread_args import check_unused_n_threads
from .kernels import kernels

__all__ = ["kernel_gd_mse", "kernel_gd", "infinite_ensemble"]

# Dormand–Prince 5(4) tableau (Hairer, Nørsett & Wanner, "Solving ODEs I", Table 5.2).
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
]
_B = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]
_E = [71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40]
# PI step control as in the C++ core (Hairer's DOPRI5 defaults).
_SAFETY, _FAC_MIN, _FAC_MAX, _BETA = 0.9, 0.2, 10.0, 0.04
_ALPHA = 0.2 - 0.75 * _BETA


def kernel_gd_mse(k_train, y_train, t, *, f0_train=None, k_test_train=None, f0_test=None,
                  ridge=0.0, n_threads=None) -> KernelGDResult:
    """numpy version of :func:`ntkfast.kernel_gd_mse` (eigh closed form; at t = ∞ only, Cholesky
    with the same hand-over to eigh). ``n_threads`` is accepted for the same signature; numpy's
    BLAS decides its own threading."""
    k, tg, ts, f0, test, r = args.parse_kernel_gd_mse(k_train, y_train, t, f0_train, k_test_train,
                                                   f0_test, ridge)
    check_unused_n_threads(n_threads)
    n = k.shape[0]
    fallback = None
    if regression.applies(ts):
        solved = _regression_by_cholesky(k, r, tg, f0, test)
        if not isinstance(solved, str):
            return regression.result(ts, tg, f0, *solved)
        fallback = solved
    lam, v, zero = spectral.spectrum(k, r)
    if fallback is not None:
        regression.warn_fallback(fallback)
    f_train, f_test = [], []
    # y or f0 near float64's limit overflow here (residual, products, squares): checked below
    with np.errstate(over="ignore", invalid="ignore"):
        for tj in ts:
            if spectral.early(lam, tj, n):  # f0 + (exp(−tK/N) − I)(f0 − y): keeps the digits of a small change
                change = v @ np.diag(spectral.decay_change(lam, tj, n, zero)) @ v.T
                f_train.append(f0 + change @ (f0 - tg.y))
            else:
                propagator = v @ np.diag(spectral.decay(lam, tj, n, zero)) @ v.T      # exp(−tK/N)
                f_train.append(tg.y + propagator @ (f0 - tg.y))
            if test.k is not None:
                t_op = test.k @ v @ np.diag(spectral.bracket(lam, tj, n, zero)) @ v.T
                f_test.append(test.f0 - t_op @ (f0 - tg.y))
        f_train = np.array(f_train)
        f_test = np.array(f_test) if test.k is not None else None
        loss = np.array([losses.mse_value(f, tg.y) for f in f_train])
    results.finite_outputs("kernel_gd_mse", tg, f0, f_train=f_train, f_test=f_test, loss=loss)
    return KernelGDResult(ts, args.shaped(f_train, tg), args.shaped(f_test, tg), loss)


def _regression_by_cholesky(k, r, tg, f0, test):
    """(α, f_test at t = ∞) with α = (K + ridge·I)⁻¹ (y − f_0) from A = L Lᵀ, or the reason (a
    string) to use the eigendecomposition instead (ntkfast._regression)."""
    n = k.shape[0]
    a = k + r * np.eye(n) if r else k
    try:
        low = interruptible.cholesky(a)
    except np.linalg.LinAlgError:  # numpy does not say at which pivot
        low = None
    reason = regression.fallback_reason(None if low is None else 0,
                                        None if low is None else np.diagonal(low), np.diagonal(a), n)
    if reason is not None:
        return reason
    with np.errstate(over="ignore", invalid="ignore"):  # y, f0 near float64's limit: see result()
        alpha = _back_substitution(low, _forward_substitution(low, tg.y - f0))
        f_test = None if test.k is None else test.f0 + test.k @ alpha
    return alpha, f_test


def _forward_substitution(low, b):
    """z with L z = b, row by row."""
    z = np.empty_like(b)
    for i in range(b.shape[0]):
        z[i] = (b[i] - low[i, :i] @ z[:i]) / low[i, i]
    return z


def _back_substitution(low, z):
    """x with Lᵀ x = z, from the last row up."""
    x = np.empty_like(z)
    for i in range(z.shape[0] - 1, -1, -1):
        x[i] = (z[i] - low[i + 1:, i] @ x[i + 1:]) / low[i, i]
    return x


class _Rhs:
    """(dF, dF_test) = −(1/N) (K D(F), K_test D(F)); counts evaluations."""

    def __init__(self, k, k_test, d_fn):
        self.k, self.k_test, self.d_fn, self.count = k, k_test, d_fn, 0

    def __call__(self, f):
        self.count += 1
        d = self.d_fn(f)
        n = self.k.shape[0]
        kt = None if self.k_test is None else -(self.k_test @ d) / n
        return -(self.k @ d) / n, kt


# Step counts above 2^53 are not exact in double; the C++ core refuses them (no integration could
# take that many steps), and so does this reference, with the same message.
_MAX_COUNTABLE_STEPS = 2.0**53


def _rk4(rhs, f, ft, ts, dt, max_steps):
    # Counts in float64 as in the C++ core (ceil(span/dt) can exceed 2^64 there), checked against
    # max_steps before any is used as an integer.
    counts, t_prev = [], 0.0
    for target in ts:
        span = target - t_prev
        counts.append(max(1.0, float(np.ceil(span / dt - 1e-9))) if span > 0 else 0.0)
        t_prev = target
    total = float(sum(counts))
    if not total <= min(float(max_steps), _MAX_COUNTABLE_STEPS):
        needs = str(int(total)) if total <= _MAX_COUNTABLE_STEPS else f"{total:g}"
        limit = ("the 2^53 steps an integration can count" if total <= float(max_steps)
                 else f"max_steps={max_steps}")
        raise RuntimeError(f"kernel_gd: rk4 with dt={dt:g} needs {needs} steps, more than {limit}; "
                           "raise max_steps or dt (dt <= N / max row sum of |K| is stable)")
    counts = [int(c) for c in counts]
    out, out_t, t = [], [], 0.0
    for target, steps in zip(ts, counts):
        h = (target - t) / steps if steps else 0.0
        for _ in range(steps):
            k1, l1 = rhs(f)
            k2, l2 = rhs(f + 0.5 * h * k1)
            k3, l3 = rhs(f + 0.5 * h * k2)
            k4, l4 = rhs(f + h * k3)
            f = f + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            if ft is not None:
                ft = ft + h / 6 * (l1 + 2 * l2 + 2 * l3 + l4)
        t = target
        out.append(f)
        out_t.append(ft)
    return out, out_t, sum(counts), 0


def _norm(v, scale):
    r = v / scale
    with np.errstate(over="ignore"):
        plain = float(np.sqrt(np.mean(r ** 2)))
    big = float(np.abs(r).max())
    if np.isfinite(plain) or not np.isfinite(big):
        return plain
    # the squares overflowed although every ratio is finite: scaled by the largest, as the C++ core
    return big * float(np.sqrt(np.mean((r / big) ** 2)))


def _initial_step(rhs_f, f, k1, t_end, rtol, atol):
    sc = atol + rtol * np.abs(f)
    dnf, dny = _norm(k1, sc), _norm(f, sc)
    h = 1e-6 if (dnf <= 1e-10 or dny <= 1e-10) else 0.01 * dny / dnf
    h = min(h, t_end)
    k_probe = rhs_f(f + h * k1)
    der2 = _norm(k_probe - k1, sc) / h
    der12 = max(der2, dnf)
    h1 = max(1e-6, h * 1e-3) if der12 <= 1e-15 else (0.01 / der12) ** 0.2
    return min(100 * h, h1, t_end)


def _dopri5(rhs, f, ft, ts, rtol, atol, max_steps):
    out, out_t = [], []
    t, j = 0.0, 0
    while j < len(ts) and ts[j] <= t:
        out.append(f)
        out_t.append(ft)
        j += 1
    if j == len(ts):
        return out, out_t, 0, 0
    k1, l1 = rhs(f)
    h = _initial_step(lambda y: rhs(y)[0], f, k1, ts[-1], rtol, atol)
    err_prev, last_rejected, accepted, rejected = 1e-4, False, 0, 0
    while j < len(ts):
        if accepted + rejected >= max_steps:
            raise RuntimeError(f"kernel_gd: max_steps={max_steps} step attempts exceeded at t={t:g} before reaching "
                               f"t={ts[-1]:g}; raise max_steps or loosen rtol/atol")
        target, h_proposed = ts[j], h
        lands = t + 1.01 * h >= target
        if lands:
            h = target - t
        # underflow relative to the current time, as in the C++ core (Hairer: 0.1·h <= eps·t); a
        # landing step (the exact rest of the interval) is always taken, however small
        if not h > 0 or t + h == t or (not lands and h <= 10 * np.finfo(float).eps * t):
            raise RuntimeError(f"kernel_gd: step size underflow at t={t:g} (h={h:g}); the outputs may have overflowed "
                               "or the tolerances are too tight")
        ks, ls = [k1], [l1]
        for s in range(1, 6):
            y = f + h * sum(a * kk for a, kk in zip(_A[s], ks))
            kn, ln = rhs(y)
            ks.append(kn)
            ls.append(ln)
        f_new = f + h * sum(b * kk for b, kk in zip(_B, ks))
        k7, l7 = rhs(f_new)
        ks.append(k7)
        e = h * sum(c * kk for c, kk in zip(_E, ks))
        err = _norm(e, atol + rtol * np.maximum(np.abs(f), np.abs(f_new)))
        if not np.isfinite(err):
            err = np.inf
        fac_err = err ** _ALPHA
        if err <= 1.0:
            if ft is not None:
                ft = ft + h * sum(b * ll for b, ll in zip(_B, ls))
            f, k1, l1 = f_new, k7, l7
            t = target if lands else t + h
            accepted += 1
            fac = min(max(fac_err / err_prev ** _BETA / _SAFETY, 1 / _FAC_MAX), 1 / _FAC_MIN)
            h_new = h / fac
            if last_rejected:
                h_new = min(h_new, h)
            if lands:
                h_new = max(h_new, h_proposed)
            err_prev, last_rejected, h = max(err, 1e-4), False, h_new
            while j < len(ts) and ts[j] <= t:
                out.append(f)
                out_t.append(ft)
                j += 1
        else:
            rejected += 1
            h = h / min(1 / _FAC_MIN, fac_err / _SAFETY)
            last_rejected = True
    return out, out_t, accepted, rejected


def kernel_gd(k_train, y_train, t, *, loss="mse", f0_train=None, k_test_train=None, f0_test=None,
              method="dopri5", rtol=None, atol=None, dt=None, max_steps=10**6,
              n_threads=None) -> KernelGDResult:
    """numpy version of :func:`ntkfast.kernel_gd` (RK4 with fixed dt, or dopri5 with the same
    step control as the C++ core). ``n_threads`` is accepted for the same signature; numpy's BLAS
    decides its own threading."""
    call = args.parse_kernel_gd(
        k_train, y_train, t, loss, f0_train, k_test_train, f0_test, method, rtol, atol, dt,
        max_steps)
    kern, tg, ts, ls, f0, test, meth, rt, at, h, steps = call
    k = kern.k
    check_unused_n_threads(n_threads)

    rhs = _Rhs(k, test.k, losses.derivative(ls, tg))
    with np.errstate(over="ignore", invalid="ignore"):  # an unstable step is reported below
        if meth == "rk4":
            out, out_t, n_steps, n_rej = _rk4(rhs, f0, test.f0, ts, h, steps)
        else:
            out, out_t, n_steps, n_rej = _dopri5(rhs, f0, test.f0, ts, rt, at, steps)
    f_train = np.array(out)
    results.finite_solution(f_train, meth, h, kern, tg, f0)
    f_test = np.array(out_t) if test.k is not None else None
    loss_t = losses.loss_values(ls, f_train, tg)
    results.finite_outputs("kernel_gd", tg, f0, f_test=f_test, loss=loss_t)
    results.not_diverged(call, loss_t)
    return KernelGDResult(ts, args.shaped(f_train, tg), args.shaped(f_test, tg), loss_t,
                          rhs.count, n_steps, n_rej)


def infinite_ensemble(x_train, y_train, x_test, t, *, get="ntk", depth, activation="relu",
                      weight_std=1.0, bias_std=0.0, ridge=0.0, covariance=True,
                      n_threads=None) -> EnsembleResult:
    """numpy version of :func:`ntkfast.infinite_ensemble` (kernels from ntkfast.reference)."""
    xtr, xte, tg = args.ensemble_inputs(x_train, y_train, x_test)
    ts = args.times(t, allow_inf=True, who="infinite_ensemble")
    which = args.get(get)
    r = args.ridge(ridge)
    want_cov = args.flag(covariance, "covariance")
    check_unused_n_threads(n_threads)
    n = xtr.shape[0]
    kr = kernels(np.vstack([xtr, xte]), depth=depth, activation=activation,
                 weight_std=weight_std, bias_std=bias_std)
    sigma = kr.nngp
    kern = kr.ntk if which == "ntk" else sigma
    lam, v, zero = spectral.spectrum(kern[:n, :n], r)
    means, covs = [], []
    for tj in ts:
        t_op = kern[n:, :n] @ v @ np.diag(spectral.bracket(lam, tj, n, zero)) @ v.T
        means.append(t_op @ tg.y)
        cov = (sigma[n:, n:] - t_op @ sigma[:n, n:] - sigma[n:, :n] @ t_op.T
               + t_op @ sigma[:n, :n] @ t_op.T)
        covs.append(0.5 * (cov + cov.T))
    covs = np.array(covs)
    var = np.maximum(np.diagonal(covs, axis1=1, axis2=2), 0.0).copy()
    return EnsembleResult(ts, args.shaped(np.array(means), tg), covs if want_cov else None, var)
