"""Kernel (ridge) regression, the t = ∞ limit of the MSE dynamics (ntk-math.md §4), by a Cholesky
factorization of A = K + ridge·I: when kernel_gd_mse takes it, when it hands over to the
eigendecomposition instead, and the outputs it gives. Shared by ntkfast.dynamics (factorization
in C++, ntkfast._cholesky) and ntkfast.reference.dynamics (numpy).

At t = ∞ the closed form needs no eigenvectors where A is positive definite:

    f_∞(X)  = y                              (every mode has converged)
    f_∞(x*) = f_0(x*) + K(x*, X) α,          α = A⁻¹ (y − f_0),

and a Cholesky factorization costs about a sixth of the flops of ``eigh``. The eigendecomposition
path treats eigenvalues up to N·eps·λ_max as 0 (the pseudo-inverse; f_∞(X) then keeps f_0's part
along them), so where A has such an eigenvalue the Cholesky results would differ from it. A
Cholesky factor shows some of those cases, and those hand over: a pivot that is not positive (A is
not numerically positive definite) and a squared pivot L_ii² at most N·eps·max_i A_ii (since
λ_min <= L_ii² and max_i A_ii <= λ_max, the eigendecomposition certainly counts a direction as
null, in exact arithmetic). Matrices whose smallest eigenvalue is that small with every pivot
larger (condition numbers within a factor ~N of 1/eps) are solved by Cholesky: the inverse, where
the eigen path would truncate. Telling them apart needs the smallest eigenvalue itself (LAPACK's
condition estimate bounds the 2-norm condition number only within a factor N, at the cost of
several more solves).
"""
from __future__ import annotations

import warnings

import numpy as np

from . import _dynamics_args as args
from . import _dynamics_losses as losses
from . import _dynamics_results as results
from ._dynamics_results import KernelGDResult


def applies(ts: np.ndarray) -> bool:
    """Whether every requested time is infinite (then no eigenvector is needed)."""
    return bool(np.isinf(ts).all())


def fallback_reason(pivot: int | None, l_diag: np.ndarray | None, a_diag: np.ndarray,
                    n: int) -> str | None:
    """Why A = L Lᵀ cannot stand in for the eigendecomposition, or None when it can.

    ``pivot``: 0 when the factorization succeeded, else the 1-based index of the first pivot that
    is not positive (None: it failed at a pivot not reported, numpy's cholesky). ``l_diag``: the
    diagonal of L (when it succeeded), ``a_diag`` that of A."""
    if pivot != 0:
        where = "" if pivot is None else f" at pivot {pivot} of {n}"
        return f"not positive definite (its Cholesky factorization failed{where})"
    squares = l_diag * l_diag
    cutoff = n * np.finfo(np.float64).eps * max(float(a_diag.max()), 0.0)
    i = int(np.argmin(squares))
    if squares[i] <= cutoff:
        return (f"numerically singular (the square of its Cholesky pivot {i + 1} of {n} is "
                f"{squares[i]:.3g}, at most N·eps·max diagonal = {cutoff:.3g}, so its "
                "eigendecomposition counts a direction as null)")
    return None


def warn_fallback(reason: str) -> None:
    """The RuntimeWarning of a t = ∞ call that took the eigendecomposition after all."""
    # stacklevel: here, kernel_gd_mse, its caller
    warnings.warn(f"kernel_gd_mse: t = inf: k_train + ridge·I is {reason}; used the "
                  "eigendecomposition (pseudo-inverse) instead", RuntimeWarning, stacklevel=3)


def result(ts: np.ndarray, tg: args.Targets, f0: np.ndarray, alpha: np.ndarray,
           f_test: np.ndarray | None) -> KernelGDResult:
    """The KernelGDResult at every (infinite) requested time: f_train = y, f_test as given (one
    time's (M, O)), the MSE of f_train (0)."""
    f_train = np.repeat(tg.y[None], ts.size, axis=0)
    tests = None if f_test is None else np.repeat(f_test[None], ts.size, axis=0)
    loss = np.array([losses.mse_value(f, tg.y) for f in f_train])
    # α = A⁻¹ (y − f_0) overflows with y or f_0 near float64's limit (as the eigenbasis projection
    # does on the other path): reported as the outputs' overflow, whose remedy (rescale y, f_0) is
    # the same. Without test points α is not part of the result, and f_train = y is exact.
    overflowed = tests is not None and not np.isfinite(alpha).all()
    results.finite_outputs("kernel_gd_mse", tg, f0, f_train=alpha if overflowed else f_train,
                           f_test=tests, loss=loss)
    return KernelGDResult(ts, args.shaped(f_train, tg), args.shaped(tests, tg), loss)
