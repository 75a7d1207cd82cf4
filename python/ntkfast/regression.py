"""Kernel ridge regression and kernel gradient descent at large N: Nyström + preconditioned CG
(Falkon), and conjugate gradients on the full system.

Ridge convention, everywhere (the same as :func:`ntkfast.kernel_gd_mse`): the ridge ρ is added to
the kernel's diagonal, so exact kernel ridge regression is f(x*) = K(x*, X) (K + ρI)⁻¹ y, which is
kernel gradient descent on the MSE at t = ∞. The Nyström version restricts f to the span of the
kernel at M centers C, f = K(·, C) α, and minimises

    ||K(X, C) α − y||² + ρ αᵀ K(C, C) α,   i.e.   (K_mn K_nm + ρ K_mm) α = K_mn y;

with M = N and C = X this is α = (K + ρI)⁻¹ y exactly. (Falkon's λ is per sample: λ = ρ / N.)

Kernels are objects: ``kernel(x1, x2=None, *, n_threads=None)`` returns the (n1, n2) kernel,
``kernel.dtype`` its dtype (e.g. ``ntkfast.InfiniteWidthKernel(depth=3, get="ntk")``). Only the
kernel calls use ``n_threads``; they are bit-identical for any thread count, and the solvers sum
over the training points in fixed blocks in a fixed order (_nystrom_blocks), so results are
bit-identical for any ``n_threads`` and any ``memory_budget``.
"""
from __future__ import annotations

import numpy as np

from . import _regression_args as args
from . import _validation as V
from ._falkon import cholesky_with_jitter
from ._nystrom_blocks import KernelRows
from ._nystrom_fit import Problem, center_gram, fit, warn_unconverged
from ._nystrom_preconditioner import NystromPreconditioner
from ._nystrom_spectrum import NystromSpectrum
from ._pcg import pcg
from ._progress import ProgressBar, wanted
from ._regression_results import CGResult, NystromModel

__all__ = ["nystrom_krr", "cg_krr", "nystrom_preconditioner", "NystromModel", "CGResult",
           "NystromPreconditioner"]


def nystrom_krr(kernel, x, y, *, ridge, n_centers=None, centers=None, t=np.inf, tol=1e-7,
                maxiter=100, preconditioner=True, preconditioner_points=None, memory_budget=None,
                random_state=None, progress=None, n_threads=None) -> NystromModel:
    """Nyström kernel ridge regression (t = ∞, Falkon's preconditioned CG) or kernel gradient
    descent on the MSE at a finite time t, for large N, in O(N·d + M²) memory.

    t = ∞ (default): solves (K_mnK_nm + ρ K_mm) α = K_mn y by conjugate gradients, preconditioned
    as in Falkon (Rudi, Carratino & Rosasco, NeurIPS 2017): with K_mm = TᵀT and
    AᵀA = T Tᵀ/M + (ρ/N) I, P = T⁻¹A⁻¹A⁻ᵀT⁻ᵀ/N ≈ (K_mnK_nm + ρK_mm)⁻¹ (_falkon). One pass over
    K(X, C) for the right-hand side, then one per iteration. Stops when the relative residual in
    the preconditioner's norm, sqrt(rᵀPr / bᵀPb) (about the relative error of the training
    predictions; Euclidean with ``preconditioner=False``), is at most ``tol``, or after
    ``maxiter`` iterations (a RuntimeWarning then says so).

    Finite t: kernel gradient descent with kernel_gd_mse's conventions (∂_t f = −(1/N)(K + ρI)(f − y)
    on the training points, f_0 = 0, t = lr × steps) on the Nyström kernel
    K̃ = K_nm K_mm⁻¹ K_mn = ΦΦᵀ, Φ = K(X, C) T⁻¹, in closed form through the M × M matrix ΦᵀΦ,
    accumulated in one pass (_nystrom_spectrum): f_t(x*) = K(x*, C) α_t. Its t → ∞ limit is the
    ridge solution above. The returned function is f_t at any x, the training points included:
    kernel_gd_mse's ``f_test`` at x* = X; its ``f_train`` with ρ > 0 also carries the ridge's
    own part, ρ g_t(K + ρI) y, which is not a function of x. Measured error against the exact path
    (kernel_gd_mse on the dense K), max |f − f_exact| / max |f_exact| over 1000 test points;
    depth-3 ReLU NTK, N = 4000 standard normal x in d = 16, y = a smooth teacher (tanh network)
    plus noise of half its standard deviation, ρ = 1, uniform centers (seed 0):

        t          10       100      1000     1e4      1e5      inf
        M = 250    5.4e-2   3.8e-2   4.3e-2   6.5e-2   6.6e-2   6.6e-2
        M = 1000   9.3e-3   7.5e-3   1.5e-2   4.5e-2   4.6e-2   4.6e-2
        M = 2000   2.8e-3   3.0e-3   8.7e-3   3.0e-2   3.1e-2   3.1e-2

    (the top eigenvalue of K is 0.18 N: t = 10 has moved the leading modes only, which K̃
    captures best; by t = 1e5 = 25 N/ρ the fit has converged to the ridge solution). At M = N,
    C = X it is exact to rounding (tests: 1e-8).

    Parameters
    ----------
    kernel : kernel object (see the module docstring).
    x : (N, d) training points; y : (N,) or (N, O) targets.
    ridge : ρ >= 0, added to the kernel's diagonal (kernel_gd_mse's convention).
    n_centers : M, 1 <= M <= N; default min(N, 2000). Centers are rows of x drawn uniformly
        without replacement (``random_state``: None, an integer seed or a numpy Generator).
    centers : (M, d) centers to use instead (then n_centers must be None or M).
    t : training time >= 0 (np.inf, default: ridge regression).
    tol, maxiter : CG stopping rule (t = ∞ only): relative residual <= tol > 0, at most maxiter >= 1
        iterations.
    preconditioner : False runs plain CG (for comparison: many more iterations).
    preconditioner_points : S, the points from which the preconditioner estimates K(C, X) K(X, C)
        ≈ (N/S) K(C, S) K(S, C): the M centers and S − M more rows of x drawn uniformly
        (``random_state``) from the others. S = M is Falkon's preconditioner exactly
        (K(C, X) K(X, C) ≈ (N/M) K(C, C)²); a larger sample approximates H better and CG needs
        fewer passes over K(X, C) (measured, N = 4e5, M = 2000, depth-3 ReLU NTK, ridge 1, tol
        1e-7: 51 iterations at S = M, 22 at 5M, 15 at 10M, 10 at 25M), for S·M kernel entries and
        2·S·M² flops more. Default min(N, 25·M, max(M, 256·N/M)): at most about one kernel pass
        of extra work. The solution does not depend on S (to ``tol``).
    memory_budget : bytes for K(X, C): kept in memory when N·M·itemsize fits (one kernel pass in
        all), recomputed in row blocks by every pass otherwise. Default: min(2 GiB, a quarter of
        the available memory). The answer does not depend on it (bit for bit).
    progress : a progress bar on stderr (None: when stderr is a terminal).
    n_threads : threads of the kernel calls.

    Returns
    -------
    NystromModel: ``predict(x_test)``, ``coefficients``, ``centers``, ``iterations``,
    ``residuals``, ``converged``, ``jitter``, ...

    A K(C, C) that Cholesky refuses (duplicated centers, rounding) gets a jitter on its diagonal,
    from eps·M·max diag, ×10 per try, with a RuntimeWarning naming it (at t = ∞ it changes only the
    preconditioner, never the solution); one that needs more than 1e-6 × its largest diagonal
    entry is refused, its smallest eigenvalue named.
    """
    args.kernel_object(kernel)
    x = args.points(x, "x")
    n = x.shape[0]
    tg = args.targets(y, n)
    problem = parse_problem(kernel, x, tg, ridge=ridge, n_centers=n_centers, centers=centers, t=t,
                            tol=tol, maxiter=maxiter, preconditioner=preconditioner,
                            preconditioner_points=preconditioner_points,
                            random_state=random_state, progress=progress, n_threads=n_threads)
    budget = V.memory_budget(memory_budget)
    rows = KernelRows(kernel, x, problem.centers.c, memory_budget=budget,
                      n_threads=problem.n_threads)
    return fit(problem, rows, tg.y)


def parse_problem(kernel, x, tg, *, ridge, n_centers, centers, t, tol, maxiter, preconditioner,
                  random_state, progress, n_threads, preconditioner_points=None) -> Problem:
    """nystrom_krr's settings checked, the centers drawn (x: the parsed points, or anything whose
    rows ``x[indices]`` gives, with ``shape``; tg: the parsed targets); shared with ntkfast.dask."""
    rho = args.ridge(ridge)
    tt = args.time(t)
    tl = args.tol(tol)
    iters = args.positive_int(maxiter, "maxiter")
    use_p = args.flag(preconditioner, "preconditioner")
    show = wanted(progress)
    threads = args.n_threads(n_threads)
    gen = args.rng(random_state)
    cs = args.centers(centers, n_centers, x, gen)
    # checked always (a typo should not pass silently), the rows gathered only where CG uses them
    idx = args.preconditioner_sample(preconditioner_points, cs, x, gen)
    used = idx is not None and use_p and not np.isfinite(tt)
    sample = np.ascontiguousarray(x[idx], dtype=np.float64) if used else None
    return Problem(kernel, cs, x.shape[0], tg.y.shape[1], tg.squeeze, rho, tt, tl, iters, use_p,
                   show, threads, sample)


def nystrom_preconditioner(kernel, x, *, ridge, n_centers=None, centers=None, memory_budget=None,
                           random_state=None, n_threads=None) -> NystromPreconditioner:
    """(K̃ + ridge·I)⁻¹, K̃ = K(X, C) K(C, C)⁻¹ K(C, X) the Nyström approximation of K(X, X),
    applied by Woodbury: a preconditioner for (K + ridge·I) α = y in :func:`cg_krr` (or
    ``scipy.sparse.linalg.cg``'s ``M``). ridge > 0 (K̃ has rank M). Building it takes one pass over
    K(X, C) and an eigendecomposition of order M; each application two passes (kept in memory
    when N·M·itemsize fits ``memory_budget``). Centers, ``random_state``, ``memory_budget`` and
    ``n_threads`` as in :func:`nystrom_krr`; a jitter on K(C, C), if needed, is warned about and
    changes only the iteration count.
    """
    args.kernel_object(kernel)
    x = args.points(x, "x")
    rho = args.ridge(ridge)
    if rho == 0:
        raise ValueError("ridge: the Nyström preconditioner needs ridge > 0 (K̃ has rank M < N, "
                         "so K̃ + ridge·I is singular at ridge = 0)")
    budget = V.memory_budget(memory_budget)
    threads = args.n_threads(n_threads)
    cs = args.centers(centers, n_centers, x, random_state)
    rows = KernelRows(kernel, x, cs.c, memory_budget=budget, n_threads=threads)
    t_factor, jitter = cholesky_with_jitter(
        center_gram(kernel, cs.c, threads), f"K(C, C), the kernel on the {cs.c.shape[0]} centers,",
        warn="it enters only the preconditioner: the solution is unchanged")
    return NystromPreconditioner(NystromSpectrum(rows, t_factor, rho), cs.c, cs.indices, jitter)


def cg_krr(operator, y, *, preconditioner=None, tol=1e-7, maxiter=1000, progress=None) -> CGResult:
    """Conjugate gradients on the full kernel ridge system A α = y, A = K + ridge·I (N × N).

    operator : ``apply(v) -> A v`` (v shaped like y: (N,) or (N, O)), or a scipy LinearOperator
        (its ``matvec``/``matmat``), e.g. a dense Gram as ``aslinearoperator(K + ridge*I)`` or a
        matrix-free kernel operator. A must be symmetric positive definite; predictions are then
        K(x*, X) α (kernel ridge regression; kernel_gd_mse at t = ∞).
    preconditioner : None, :func:`nystrom_preconditioner`'s operator, or any symmetric positive
        definite ``apply(r) -> P r`` / LinearOperator with P ≈ A⁻¹.
    tol, maxiter : stop when ||y − A α||₂ <= tol·||y||₂ (per output; scipy's cg criterion), or
        after maxiter iterations (a RuntimeWarning then says so).
    progress : a progress bar on stderr (None: when stderr is a terminal).

    Returns
    -------
    CGResult: ``coefficients`` α, ``iterations``, ``residuals`` (the relative residual after each
    iteration, largest over the outputs), ``converged``.
    """
    n = _operator_order(operator, "operator")
    if n is None:
        tg = args.targets(y, np.shape(y)[0] if np.ndim(y) >= 1 else 1)
    else:
        tg = args.targets(y, n, match=f"the operator's order {n}")
    n = tg.y.shape[0]
    m = _operator_order(preconditioner, "preconditioner")
    if m is not None and m != n:
        raise ValueError(f"preconditioner: expected order {n} to match y, got shape {preconditioner.shape}")
    tl = args.tol(tol)
    iters = args.positive_int(maxiter, "maxiter")
    show = wanted(progress)
    apply_a = _as_apply(operator, "operator", tg)
    apply_p = None if preconditioner is None else _as_apply(preconditioner, "preconditioner", tg)
    with ProgressBar(iters, enabled=show, label="cg_krr", unit="iterations") as bar:
        out = pcg(apply_a, tg.y, apply_p, tol=tl, maxiter=iters, norm="euclidean",
                  on_iteration=lambda k, res: bar.update(k, f"residual {res:.2e}"))
    warn_unconverged("cg_krr", out, tl)
    coef = out.x[:, 0] if tg.squeeze else out.x
    return CGResult(coef, out.iterations, out.residuals, out.converged)


# ---------------------------------------------------------------- helpers

def _operator_order(op, name: str):
    """N of an operator with a ``shape`` (a LinearOperator, a matrix), None for a plain callable."""
    if op is None or callable(op) and not hasattr(op, "shape"):
        return None
    shape = getattr(op, "shape", None)
    if shape is None:
        raise TypeError(f"{name}: expected a callable apply(v) or a scipy LinearOperator, got "
                        f"{type(op).__name__}")
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"{name}: expected a square operator (N, N), got shape {tuple(shape)}")
    return int(shape[0])


def _as_apply(op, name: str, tg):
    """op as a function of (N, O) arrays, its outputs checked for shape and finiteness."""
    if hasattr(op, "matmat"):
        call = op.matmat
    elif hasattr(op, "shape") and hasattr(op, "__matmul__") and not callable(op):
        call = op.__matmul__  # a dense or sparse matrix
    elif callable(op):
        call = op
    else:
        raise TypeError(f"{name}: expected a callable apply(v) or a scipy LinearOperator, got "
                        f"{type(op).__name__}")

    def apply(v: np.ndarray) -> np.ndarray:
        arg = v[:, 0] if tg.squeeze and not hasattr(op, "matmat") else v
        out = np.asarray(call(arg), dtype=np.float64)
        if out.shape != arg.shape:
            if out.size == v.size and out.ndim in (1, 2) and out.shape[0] == v.shape[0]:
                out = out.reshape(v.shape)
            else:
                raise ValueError(f"{name}: returned shape {out.shape} for an input of shape {arg.shape}")
        if not np.isfinite(out).all():
            raise ValueError(f"{name}: returned NaN or infinity")
        return out.reshape(v.shape)
    return apply
