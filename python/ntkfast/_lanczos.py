"""Top or bottom eigenpairs of a symmetric operator by Lanczos (scipy's ``eigsh``, ARPACK), for
ntkfast.spectra's matrix-free path. scipy is imported here, on first use.

Three things can go wrong with Lanczos, and each raises SpectrumNotConvergedError (with the
residuals reached) rather than return a wrong eigenvalue silently:

- ARPACK does not converge within maxiter: its own error, turned into ours. (Bottom pairs are
  sought on K/N + s·I, s the lower bound on ‖K/N‖ below, where ARPACK's test relative to |θ| is
  not defeated by a null space.)
- ARPACK's residuals are its estimates: they are measured again here with one more block
  product, and a pair that misses ``tol``·‖K/N‖ by more than a factor RESIDUAL_SLACK raises.
  The test is against ‖K/N‖, the scale of the rounding in every product, not against the pair's
  own |λ|: the bottom eigenvalues of a semidefinite Gram are zero up to rounding, and a test
  relative to them would refuse exact pairs. ‖K/N‖ is bounded from below by the largest |λ|
  returned and by NORM_STEPS power steps (‖Av‖/‖v‖ ≤ ‖A‖), so the test is never looser than
  stated (and top pairs near 0 of a matrix whose norm is in its negative eigenvalues pass).
- Lanczos from one start vector sees each distinct eigenvalue once (in exact arithmetic): a
  repeated one (duplicated points repeat the eigenvalue 0) can be returned once where it belongs
  k times, every returned pair exact. ``verify`` runs Lanczos once more on the operator with the
  found pairs deflated (moved to the far end of the spectrum); an eigenvalue beyond the k-th found
  is a missed one, added, and the check repeats until none is found. A copy is told apart from
  the k-th pair only where their values differ by more than the residual bound above
  (100·tol·‖K/N‖: 1e-8·‖K/N‖ at the default tol); within it the two are the same to the accuracy
  asked for.
"""
from __future__ import annotations

import numpy as np

from ._spectra_results import Eigenpairs, SpectrumNotConvergedError, residuals

RESIDUAL_SLACK = 100.0
NORM_STEPS = 2


def eigenpairs(op, k: int, which: str, n: int, tol: float, maxiter: int | None,
               verify: bool = True) -> Eigenpairs:
    """k eigenpairs of op/N (op: (M, M) symmetric LinearOperator or array) by eigsh; k < M."""
    from scipy.sparse.linalg import aslinearoperator

    a = aslinearoperator(op)
    v0 = np.random.default_rng(0).standard_normal(a.shape[0])  # fixed start: reproducible answers
    scale = norm_from_below(a, v0) / n
    lam, vec = _ritz_pairs(a, k, which, n, scale if which == "bottom" else 0.0, tol, maxiter, v0, "")
    res = residuals(a.matmat, lam, vec, n)
    scale = max(scale, float(np.abs(lam).max()))
    bound = RESIDUAL_SLACK * max(tol, np.finfo(np.float64).eps) * max(scale, np.finfo(np.float64).tiny)
    _check_residuals(res, bound, "")
    if verify:
        lam, vec, res = _complete(a, lam, vec, res, which, n, tol, maxiter, scale, bound)
    return Eigenpairs(lam, vec, res, "lanczos", n)


def _ritz_pairs(a, k, which, n, shift, tol, maxiter, v0, what):
    """eigsh's k pairs of a/n, ordered from the requested end; non-convergence raises.

    Bottom pairs are sought on a/n + shift·I (shift ≈ ‖a/n‖): ARPACK's convergence test is
    relative to |θ|, and a Ritz value near 0 (a semidefinite Gram's null space) can then never
    pass it; ARPACK was seen to return a larger eigenvalue instead. Shifted, the bottom of a
    semidefinite spectrum sits near ‖a/n‖ and the test becomes tol·‖K/N‖, the residual bound."""
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    def shifted(v):
        v = np.asarray(v).reshape(-1)
        return a.matvec(v) / n + shift * v

    b = LinearOperator(a.shape, matvec=shifted, dtype=np.float64)
    try:
        lam, vec = eigsh(b, k=k, which="LA" if which == "top" else "SA", tol=tol,
                         maxiter=maxiter, v0=v0)
    except ArpackNoConvergence as exc:
        got = np.full(k, np.nan)
        if exc.eigenvalues.size:
            r = residuals(b.matmat, exc.eigenvalues, exc.eigenvectors, 1)
            got[:r.size] = r
        raise SpectrumNotConvergedError(
            f"Lanczos (eigsh){what} did not converge to tol={tol:g} within maxiter={maxiter}: "
            f"{exc.eigenvalues.size} of {k} eigenpairs converged; residuals ‖(K/N)v − λv‖ "
            f"reached: {np.array2string(got, precision=3)}; raise maxiter, loosen tol, "
            + ("pass verify=False if the spectrum is known to be simple, " if what else "")
            + "or use method='dense'", got) from None
    order = np.argsort(lam)[::-1] if which == "top" else np.argsort(lam)
    return lam[order] - shift, vec[:, order]


def _check_residuals(res, bound, what):
    if not np.all(res <= bound):
        raise SpectrumNotConvergedError(
            f"Lanczos (eigsh){what} returned eigenpairs whose residuals ‖(K/N)v − λv‖ = "
            f"{np.array2string(res, precision=3)} exceed {RESIDUAL_SLACK:g}·tol·‖K/N‖ = "
            f"{bound:.3g}; raise maxiter or use method='dense'", res)


def _complete(a, lam, vec, res, which, n, tol, maxiter, scale, bound):
    """Add the eigenpairs Lanczos missed (copies of a repeated eigenvalue) until the deflated
    operator has nothing beyond the k-th pair; at most k additions are ever needed. Each run
    starts from a new (fixed) vector: the first run's start has, within a repeated eigenspace,
    only the direction it found, so restarting from it would find nothing new."""
    from scipy.sparse.linalg import LinearOperator

    k = lam.size
    sign = 1.0 if which == "top" else -1.0
    far = -sign * 2.0 * scale  # where the found pairs are moved: past the other end
    what = " (checking for missed copies of a repeated eigenvalue)"
    for attempt in range(1, k + 2):
        v0 = np.random.default_rng(attempt).standard_normal(a.shape[0])
        moved, basis = far - lam, vec

        def deflated(v, moved=moved, basis=basis):
            v = np.asarray(v).reshape(-1)
            return a.matvec(v) / n + basis @ (moved * (basis.T @ v))

        b = LinearOperator(a.shape, matvec=deflated, dtype=np.float64)
        mu, w = _ritz_pairs(b, 1, which, 1, scale if which == "bottom" else 0.0, tol, maxiter,
                            v0, what)
        if sign * (mu[0] - lam[-1]) <= bound:
            return lam, vec, res
        w = w[:, 0] - vec @ (vec.T @ w[:, 0])  # a new direction, orthogonal to the found ones
        w /= np.linalg.norm(w)
        mu = float(w @ a.matvec(w)) / n
        r = residuals(a.matmat, np.array([mu]), w[:, None], n)
        _check_residuals(r, bound, what)
        lam, vec, res = np.append(lam, mu), np.column_stack([vec, w]), np.append(res, r)
        keep = np.argsort(-sign * lam, kind="stable")[:k]
        lam, vec, res = lam[keep], np.ascontiguousarray(vec[:, keep]), res[keep]
    raise SpectrumNotConvergedError(  # pragma: no cover - k additions always suffice
        f"Lanczos (eigsh){what} kept finding eigenvalues beyond the k-th after {k} additions; "
        "use method='dense'", res)


def norm_from_below(a, v0: np.ndarray) -> float:
    """max ‖A v_j‖/‖v_j‖ over NORM_STEPS power steps from v0 plus the constant vector (the top
    eigenvector of a kernel with positive entries is nearly constant): a lower bound on ‖A‖."""
    v = v0 / np.linalg.norm(v0) + 1.0 / np.sqrt(v0.size)
    best = 0.0
    for _ in range(NORM_STEPS):
        w = a.matvec(v)
        ratio = float(np.linalg.norm(w) / np.linalg.norm(v))
        best = max(best, ratio)
        if ratio == 0.0:
            break
        v = w
    return best
