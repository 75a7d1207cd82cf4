"""Top or bottom eigenpairs of a symmetric operator by Lanczos (scipy's ``eigsh``, ARPACK), for
ntkfast.spectra's matrix-free path. scipy is imported here, on first use.

ARPACK stops when each Ritz pair's residual is at most ``tol``·|λ|; that is its estimate, so the
residuals are measured again here with one more block product, and a pair that misses
``tol``·λ_max (K/N units) by more than a factor RESIDUAL_SLACK, or ARPACK's own
non-convergence, raises SpectrumNotConvergedError with the residuals reached: a wrong eigenvalue
is never returned silently.
"""
from __future__ import annotations

import numpy as np

from ._spectra_results import Eigenpairs, SpectrumNotConvergedError, residuals

RESIDUAL_SLACK = 100.0


def eigenpairs(op, k: int, which: str, n: int, tol: float, maxiter: int | None) -> Eigenpairs:
    """k eigenpairs of op/N (op: (M, M) symmetric LinearOperator or array) by eigsh; k < M."""
    from scipy.sparse.linalg import ArpackNoConvergence, aslinearoperator, eigsh

    a = aslinearoperator(op)
    m = a.shape[0]
    v0 = np.random.default_rng(0).standard_normal(m)  # fixed start: reproducible answers
    try:
        lam, vec = eigsh(a, k=k, which="LA" if which == "top" else "SA", tol=tol,
                         maxiter=maxiter, v0=v0)
    except ArpackNoConvergence as exc:
        got = np.full(k, np.nan)
        if exc.eigenvalues.size:
            r = residuals(a.matmat, exc.eigenvalues / n, exc.eigenvectors, n)
            got[:r.size] = r
        raise SpectrumNotConvergedError(
            f"Lanczos (eigsh) did not converge to tol={tol:g} within maxiter={maxiter}: "
            f"{exc.eigenvalues.size} of {k} eigenpairs converged; residuals ‖(K/N)v − λv‖ "
            f"reached: {np.array2string(got, precision=3)}; raise maxiter, loosen tol, or use "
            f"method='dense'", got) from None
    order = np.argsort(lam)[::-1] if which == "top" else np.argsort(lam)
    lam, vec = lam[order] / n, vec[:, order]
    res = residuals(a.matmat, lam, vec, n)
    scale = max(float(np.abs(lam).max()), np.finfo(np.float64).tiny)
    if not np.all(res <= RESIDUAL_SLACK * max(tol, np.finfo(np.float64).eps) * scale):
        raise SpectrumNotConvergedError(
            f"Lanczos (eigsh) returned eigenpairs whose residuals ‖(K/N)v − λv‖ = "
            f"{np.array2string(res, precision=3)} exceed {RESIDUAL_SLACK:g}·tol·|λ_max| = "
            f"{RESIDUAL_SLACK * tol * scale:.3g}; raise maxiter or use method='dense'", res)
    return Eigenpairs(lam, vec, res, "lanczos", n)
