"""Kernel gradient descent in function space (ntk-math.md §4): what the NTK predicts for training.

Time convention, for every function here: C = (1/N) Σ_i ℓ(f(x_i), y_i) over the N training
points and

    ∂_t f_t(x) = −(1/N) Σ_i K(x, x_i) d_t(x_i),   d = ∂ℓ/∂f,

so t = learning rate × number of gradient-descent steps on C. MSE: ℓ = ½||f − y||², d = f − y.
Cross-entropy: ℓ = −Σ_k y_k log softmax(f)_k, d = softmax(f) − y. (neural-tangents divides by
N·n_L instead of N: its times are ours × n_L.)
"""
from __future__ import annotations

import numpy as np

from . import _cholesky as cholesky
from . import _core
from . import _dynamics_args as args
from . import _dynamics_losses as losses
from . import _dynamics_results as results
from . import _regression as regression
from . import _spectral as spectral
from ._dynamics_results import EnsembleResult, KernelGDResult
from ._interruptible import matmul  # a @ b; when large, Ctrl-C can stop the wait
from ._threads import resolve_n_threads
from .kernels import kernels

__all__ = ["kernel_gd_mse", "kernel_gd", "infinite_ensemble", "KernelGDResult", "EnsembleResult"]


def _stats_with(threads: int):
    """The kernel checks of _dynamics_args, compiled: two passes, no N×N temporaries."""
    return lambda a, symmetric: _core.kernel_stats(a, symmetric, threads)


def kernel_gd_mse(k_train, y_train, t, *, f0_train=None, k_test_train=None, f0_test=None,
                  ridge=0.0, n_threads=None) -> KernelGDResult:
    """Kernel gradient descent on the MSE, in closed form (ntk-math.md §4).

    With K + ridge·I = V Λ Vᵀ (one ``eigh``, reused for every time)::

        f_t(X)  = y + V exp(−tΛ/N) Vᵀ (f_0(X) − y)
        f_t(x*) = f_0(x*) − K(x*, X) V [(1 − exp(−tΛ/N)) / Λ] Vᵀ (f_0(X) − y)

    Time: C = (1/2N) Σ_i ||f(x_i) − y_i||², ∂_t f = −(1/N) K (f − y); t = lr × steps (neural-tangents
    divides by N·n_L instead). ``t = np.inf`` (last) gives kernel (ridge) regression at the test
    points. Eigenvalues below N·eps·λ_max, including negative rounding, count as 0: along them
    nothing moves (in exact arithmetic K(x*, X) is orthogonal to them too; at t=∞ this is the
    pseudo-inverse). A kernel with an eigenvalue below −1e-6·λ_max is refused (ValueError). While t·λ_max/N <= 1 the training
    outputs are computed as f_0 + V [exp(−tΛ/N) − 1] Vᵀ (f_0 − y) (expm1), which keeps the digits
    of a small change.

    When every requested time is ``np.inf`` no eigenvector is needed: K + ridge·I = L Lᵀ is
    factored instead (Cholesky, blocked over OpenMP threads in C++, about 6x fewer flops than the
    ``eigh``), f_train = y and f_test = f_0(x*) + K(x*, X) (K + ridge·I)⁻¹ (y − f_0), the values of
    the eigendecomposition path up to rounding. Where the factorization fails (a pivot that is not
    positive: K + ridge·I is not positive definite, e.g. a rank-deficient K with ridge=0) or has a
    pivot whose square is at most N·eps·max diagonal (so the eigendecomposition would count a
    direction as null), the eigendecomposition path runs instead, with a RuntimeWarning saying
    why, and gives today's pseudo-inverse results. A kernel whose smallest eigenvalue is below
    N·eps·λ_max with no pivot that small is solved by Cholesky (the inverse, not the
    pseudo-inverse); a list of times with any finite one always takes the eigendecomposition.

    Parameters
    ----------
    k_train : (N, N) symmetric kernel on the training points.
    y_train : (N,) or (N, O) targets; with (N,) the outputs drop their last axis.
    t : scalar or 1-D non-decreasing times >= 0 (a scalar still gives a leading axis of 1).
    f0_train, f0_test : initial outputs (zeros by default), shaped like y_train's rows.
    k_test_train : (M, N) kernel between test and training points (for f_test).
    ridge : added to the diagonal of k_train: the dynamics use K + ridge·I (neural-tangents'
        ``diag_reg``), so f_train still converges to y, and f_test at t=∞ is the kernel ridge
        regression K(x*, X) (K + ridge·I)⁻¹ y (for f0 = 0).
    n_threads : threads of the Cholesky path and the kernel checks (results are identical for any
        count; the eigendecomposition runs in numpy's LAPACK with numpy's threads).

    Returns
    -------
    KernelGDResult with ``f_train`` (T, N, O), ``f_test`` (T, M, O) or None, ``loss`` (T,) the MSE
    of f_train; ``n_rhs = n_steps = n_rejected = 0``.
    """
    threads = resolve_n_threads(n_threads)
    k, tg, ts, f0, test, r = args.parse_kernel_gd_mse(k_train, y_train, t, f0_train, k_test_train,
                                                   f0_test, ridge, stats=_stats_with(threads))
    n = k.shape[0]

    fallback = None
    if regression.applies(ts):
        solved = cholesky.solve(k, r, tg, f0, test, threads)
        if not isinstance(solved, str):
            return regression.result(ts, tg, f0, solved.alpha, solved.f_test)
        fallback = solved
    lam, v, zero = spectral.spectrum(k, r)  # refuses an indefinite kernel before any warning
    if fallback is not None:
        regression.warn_fallback(fallback)
    kv = None if test.k is None else matmul(test.k, v)  # (M, N), applied once per time below
    f_train = np.empty((ts.size, n, tg.y.shape[1]))
    f_test = None if kv is None else np.empty((ts.size, kv.shape[0], tg.y.shape[1]))
    # y or f0 near float64's limit overflow here (residual, projections, squares): checked below
    with np.errstate(over="ignore", invalid="ignore"):
        coef = v.T @ (f0 - tg.y)                    # residual in the eigenbasis, (N, O)
        for j, tj in enumerate(ts):
            if spectral.early(lam, tj, n):
                f_train[j] = f0 + v @ (spectral.decay_change(lam, tj, n, zero)[:, None] * coef)
            else:
                f_train[j] = tg.y + v @ (spectral.decay(lam, tj, n, zero)[:, None] * coef)
            if kv is not None:
                f_test[j] = test.f0 - kv @ (spectral.bracket(lam, tj, n, zero)[:, None] * coef)
        loss = np.array([losses.mse_value(fj, tg.y) for fj in f_train])
    results.finite_outputs("kernel_gd_mse", tg, f0, f_train=f_train, f_test=f_test, loss=loss)
    return KernelGDResult(ts, args.shaped(f_train, tg), args.shaped(f_test, tg), loss)


def kernel_gd(k_train, y_train, t, *, loss="mse", f0_train=None, k_test_train=None, f0_test=None,
              method="dopri5", rtol=None, atol=None, dt=None, max_steps=10**6,
              n_threads=None) -> KernelGDResult:
    """Kernel gradient descent for any loss, by an explicit ODE integrator in C++.

    Integrates ∂_t F = −(1/N) K D(F) on the N×O training outputs, D = ∂ℓ/∂f per point, with
    C = (1/N) Σ_i ℓ(f(x_i), y_i) (time t = lr × steps of gradient descent on C; neural-tangents
    divides by N·n_L instead). Test outputs depend on the training outputs only:
    f_t(x*) = f_0(x*) − (1/N) K(x*, X) ∫_0^t D ds, the integral accumulated with the same
    Runge–Kutta weights as F and K(x*, X) applied only at the requested times.

    Parameters
    ----------
    k_train, y_train, t, f0_train, k_test_train, f0_test : as in :func:`kernel_gd_mse`, except
        that t must be finite (use kernel_gd_mse for MSE at t = inf). k_train must be positive
        semi-definite; that is not checked here (it would take an eigendecomposition), and an
        indefinite kernel makes the outputs grow exponentially.
    loss : "mse", "cross_entropy" (alias "ce"; y rows must be probabilities, O >= 2), or a callable
        ``loss(f, y) -> (value, d)``. Names ignore case and surrounding spaces; anything neither a
        string nor callable is a TypeError. The callable gets f, y float64 (N, O) copies (O = 1 for
        a 1-D y_train) and returns a tuple: value, the mean loss C(f), a real scalar (int, float,
        numpy number or 0-d array; not a bool or string: TypeError); d, the per-point derivative
        ∂ℓ/∂f_i, a real array (N, O) in any layout ((N,) also accepted when O = 1; another shape:
        ValueError). A non-finite value or d is a ValueError. Called once per right-hand side (d)
        and once per requested time (value), plus once at f0 when t[0] > 0 (the initial loss of
        the divergence rule); what it raises propagates. :func:`ntkfast.train`
        follows the same contract (one shared check).
    method : "dopri5" (default): adaptive Dormand–Prince 5(4) with error control on the training
        outputs, err = rms(e / (atol + rtol·max(|f|, |f_new|))) <= 1, PI step controller.
        "rk4": classical RK4 with fixed step ``dt`` (default N / max_i Σ_j |K_ij| <= N / λ_max,
        stable for MSE and cross-entropy); each interval between requested times is cut into the
        fewest equal steps <= dt. Both land exactly on every requested time. RK4 is stable for
        steps h <= 2.785·N/λ_max(K) (MSE) and 2·2.785·N/λ_max(K) (cross-entropy, whose softmax
        curvature is at most 1/2). With L = max(max_i K_ii, 1ᵀK1/N) <= λ_max (no eigensolve), a
        dt whose steps exceed 2.785·N/L is refused for MSE (ValueError: certainly unstable), and
        2·2.785·N/L warns for cross-entropy (RuntimeWarning: unstable wherever the softmax is not
        saturated); a callable's curvature is unknown, so its dt is not judged beforehand.
    rtol, atol : dopri5 tolerances; None (default) picks them by loss. rtol must be below 1 (at
        1 a step may err by as much as the outputs); for MSE and cross-entropy atol must be below
        max |y_train|, |f0_train| (the outputs' scale; ValueError otherwise). MSE and callables:
        rtol=1e-8, atol=1e-10, which agree with the MSE closed form to about 1e-9 relative (max
        error / max |f|, measured 3e-10 to 1.4e-9 for depth-3 ReLU NTKs of N = 12 to 1000
        Gaussian points, t up to 1000).
        Cross-entropy: rtol=1e-6, atol=1e-8, which reach 2e-8 relative accuracy (max error /
        max |f| against a tight solution) with N=4000, 10 classes, t=1000 and the depth-3 ReLU NTK
        of Gaussian inputs, in 266 kernel products (rtol=1e-8 there: 1.3e-10 in 578).
    max_steps : most step attempts (accepted + rejected), an integer from 1 to 2**64 - 1;
        exceeding it raises RuntimeError (for rk4 before the first step, as does a count
        above 2**53).
    n_threads : threads of the kernel products (results are identical for any count).

    Returns
    -------
    KernelGDResult: ``f_train`` (T, N, O), ``f_test`` (T, M, O) or None, ``loss`` (T,),
    ``n_rhs`` (products K·D), ``n_steps`` (accepted), ``n_rejected`` (0 for rk4).

    A solution whose outputs overflow, or whose loss at a requested time exceeds
    10⁶·(|initial loss| + 1) (the divergence rule of :func:`ntkfast.train`; gradient flow never
    increases the loss), raises FloatingPointError saying why instead of being returned.
    """
    threads = resolve_n_threads(n_threads)
    stats = _stats_with(threads)
    call = args.parse_kernel_gd(
        k_train, y_train, t, loss, f0_train, k_test_train, f0_test, method, rtol, atol, dt,
        max_steps, stats=stats)
    kern, tg, ts, ls, f0, test, meth, rt, at, h, steps = call
    k = kern.k
    n = k.shape[0]

    y = np.ascontiguousarray(tg.y)
    n_out = y.shape[1]
    f_train = np.empty((ts.size, n, n_out))
    integral = None if test.k is None else np.empty((ts.size, n, n_out))
    callback = losses.derivative(ls, tg) if ls.kind == "callback" else None
    n_rhs, n_steps, n_rejected = _core.kernel_ode(
        k, y, f0, ts, ls.kind, callback, meth, rt, at, h, steps, f_train, integral, threads)
    results.finite_solution(f_train, meth, h, kern, tg, f0)
    f_test = None
    if test.k is not None:
        f_test = np.empty((ts.size, test.k.shape[0], n_out))
        _core.apply_test_kernel(test.k, integral, test.f0, f_test, threads)
    loss_t = losses.loss_values(ls, f_train, tg)
    results.finite_outputs("kernel_gd", tg, f0, f_test=f_test, loss=loss_t)
    results.not_diverged(call, loss_t)
    return KernelGDResult(ts, args.shaped(f_train, tg), args.shaped(f_test, tg), loss_t,
                          int(n_rhs), int(n_steps), int(n_rejected))


def infinite_ensemble(x_train, y_train, x_test, t, *, get="ntk", depth, activation="relu",
                      weight_std=1.0, bias_std=0.0, ridge=0.0, covariance=True,
                      n_threads=None) -> EnsembleResult:
    """Mean and covariance of f_t(x_test) over random initializations of an infinitely wide net.

    f_0 ~ GP(0, Σ) with Σ the NNGP kernel; trained by the linearized MSE dynamics with kernel
    K = Θ (the NTK, ``get="ntk"``) or K = Σ (``get="nngp"``: only the last layer trained; at t=∞
    the Bayesian GP posterior). With K_XX + ridge·I = V Λ Vᵀ and
    T_t = K(x*, X) V diag((1 − e^{−tλ/N}) / λ) Vᵀ::

        mean = T_t y,   cov = Σ** − T_t Σ_X* − Σ*X T_tᵀ + T_t Σ_XX T_tᵀ

    Time convention as in :func:`kernel_gd_mse` (1/N; t = ∞ allowed, last). The kernels come from
    one :func:`ntkfast.kernels` call on the stacked inputs.

    Returns
    -------
    EnsembleResult: ``mean`` (T, M, O) or (T, M) for 1-D y, ``cov`` (T, M, M) (shared by every
    output) or None with ``covariance=False``, ``var`` (T, M), ``std``, ``quantile(q)``.
    """
    xtr, xte, tg = args.ensemble_inputs(x_train, y_train, x_test)
    ts = args.times(t, allow_inf=True, who="infinite_ensemble")
    which = args.get(get)
    r = args.ridge(ridge)
    want_cov = args.flag(covariance, "covariance")
    n, m = xtr.shape[0], xte.shape[0]

    kr = kernels(np.vstack([xtr, xte]), depth=depth, activation=activation, weight_std=weight_std,
                 bias_std=bias_std, n_threads=n_threads)
    sigma = kr.nngp
    k_all = kr.ntk if which == "ntk" else sigma
    lam, v, zero = spectral.spectrum(np.ascontiguousarray(k_all[:n, :n]), r)
    kv = matmul(k_all[n:, :n], v)           # K(x*, X) V, (M, N)
    sv = matmul(v.T, sigma[:n, n:])         # Vᵀ Σ_X*, (N, M)
    ssv = matmul(matmul(v.T, sigma[:n, :n]), v)  # Vᵀ Σ_XX V, (N, N)
    coef = v.T @ tg.y                       # (N, O)
    s_test = sigma[n:, n:]
    mean = np.empty((ts.size, m, tg.y.shape[1]))
    cov = np.empty((ts.size, m, m)) if want_cov else None
    var = np.empty((ts.size, m))
    for j, tj in enumerate(ts):
        g = spectral.bracket(lam, tj, n, zero)
        q = kv * g                          # T_t = q Vᵀ
        mean[j] = q @ coef
        if want_cov:
            cross = matmul(q, sv)           # T_t Σ_X*
            c = s_test - cross - cross.T + matmul(matmul(q, ssv), q.T)
            cov[j] = 0.5 * (c + c.T)
            var[j] = np.diagonal(cov[j])
        else:
            var[j] = np.diagonal(s_test) - 2 * np.einsum("mn,nm->m", q, sv) + np.einsum("mn,mn->m", matmul(q, ssv), q)
    np.maximum(var, 0.0, out=var)           # rounding can leave tiny negatives
    return EnsembleResult(ts, args.shaped(mean, tg), cov, var)
