"""The Nyström fit once its arguments are parsed and K(X, C) can be passed over: the M × M algebra
(K(C, C), its jittered Cholesky factor, Falkon's preconditioner, conjugate gradients, the spectral
solution at a finite time) of :func:`ntkfast.nystrom_krr`, shared by the local solver and
ntkfast.dask's. They differ only in ``rows``, the object that runs the passes over the N training
points: a _nystrom_blocks.KernelRows in this process, or ntkfast._dask_rows' chunks on Dask
workers. ``rows`` provides ``m``, ``passes``, ``normal_apply(v)`` (K(C, X) K(X, C) v),
``transpose_apply(y)`` (K(C, X) y) and ``factor_sums(T, y, on_block)`` (ΦᵀΦ, Φᵀy), each summed
per chunk and over the chunks in one fixed order, so both give the same bits.
"""
from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from ._nystrom_blocks import checked_block, factor_part, factor_rows
from ._falkon import FalkonPreconditioner, cholesky_with_jitter
from ._nystrom_spectrum import NystromSpectrum
from ._pcg import pcg
from ._progress import ProgressBar
from ._regression_results import NystromModel


class Problem(NamedTuple):
    """What nystrom_krr parsed: the fit's settings (y itself stays with ``rows``' caller)."""
    kernel: Any
    centers: Any          # _regression_args.Centers
    n: int                # training points
    n_outputs: int        # columns of y
    squeeze: bool         # y was 1-D
    ridge: float
    t: float
    tol: float
    maxiter: int
    preconditioner: bool
    progress: bool
    n_threads: Any
    sample: Any = None    # (S − M, d) more points for the preconditioner, or None (Falkon's)


def fit(p: Problem, rows, y) -> NystromModel:
    """The fitted model; ``y`` (N, O) float64 goes to ``rows`` as it is (numpy locally, a Dask
    array for ntkfast.dask)."""
    m = p.centers.c.shape[0]

    def model(coef, solver, k, residuals, converged, jitter):
        return NystromModel(p.kernel, p.centers.c, coef[:, 0] if p.squeeze else coef,
                            p.centers.indices, p.ridge, p.t, p.n, solver, k, residuals, converged,
                            jitter, rows.passes)

    if p.t == 0.0:  # f_0 = 0: nothing has moved
        return model(np.zeros((m, p.n_outputs)), "spectral", 0, np.empty(0), True, 0.0)
    k_mm = center_gram(p.kernel, p.centers.c, p.n_threads)
    what = f"K(C, C), the kernel on the {m} centers,"
    if np.isfinite(p.t):
        t_factor, jitter = cholesky_with_jitter(
            k_mm, what, warn="the Nyström kernel is K(X, C) (K(C, C) + jitter·I)⁻¹ K(C, X)")
        with ProgressBar(p.n, enabled=p.progress, label="nystrom_krr", unit="rows") as bar:
            spec = NystromSpectrum(rows, t_factor, p.ridge, y, on_block=lambda done: bar.update(done))
        return model(spec.gd_coefficients(p.t, p.n), "spectral", 0, np.empty(0), True, jitter)

    jitter, apply_p = 0.0, None
    if p.preconditioner:
        t_factor, jitter = cholesky_with_jitter(
            k_mm, what, warn="it enters only the preconditioner: the solution is unchanged")
        apply_p = FalkonPreconditioner(t_factor, p.n, p.ridge,
                                       sample_gram(p.kernel, p.sample, p.centers.c, t_factor,
                                                   p.n_threads))
    rhs = rows.transpose_apply(y)

    def apply_h(v):
        return rows.normal_apply(v) + p.ridge * (k_mm @ v)

    with ProgressBar(p.maxiter, enabled=p.progress, label="nystrom_krr", unit="iterations") as bar:
        out = pcg(apply_h, rhs, apply_p, tol=p.tol, maxiter=p.maxiter, norm="preconditioned",
                  on_iteration=lambda k, res: bar.update(k, f"residual {res:.2e}"))
    warn_unconverged("nystrom_krr", out, p.tol, stacklevel=4)
    return model(out.x, "falkon" if p.preconditioner else "cg", out.iterations, out.residuals,
                 out.converged, jitter)


def sample_gram(kernel, sample, c: np.ndarray, t_factor: np.ndarray, threads):
    """(Ψᵀ Ψ upper triangle, S − M), Ψ = K(sample, C) T⁻¹, in kernel calls of factor_rows(M)
    rows; None without a sample."""
    if sample is None:
        return None
    m = c.shape[0]
    size = factor_rows(m)

    def call(start, stop):  # checked like every other call of a user's kernel
        k = checked_block(kernel(sample[start:stop], c, n_threads=threads), (stop - start, m),
                          f"K(sample[{start}:{stop}], centers)", finite=True)
        return np.asarray(k, dtype=np.float64)

    calls = ((start, min(start + size, len(sample)), call(start, min(start + size, len(sample))))
             for start in range(0, len(sample), size))
    gram, _ = factor_part(calls, t_factor)
    return gram, len(sample)


def center_gram(kernel, c: np.ndarray, threads) -> np.ndarray:
    """K(C, C) as float64, checked."""
    m = c.shape[0]
    k = checked_block(kernel(c, n_threads=threads), (m, m), "K(centers)", finite=True)
    return np.asarray(k, dtype=np.float64)


def warn_unconverged(who: str, out, tol: float, stacklevel: int = 3) -> None:
    if not out.converged:
        warnings.warn(
            f"{who}: conjugate gradients stopped after {out.iterations} iterations at relative "
            f"residual {out.residuals[-1]:.3g}, above tol = {tol:g} (maxiter reached, or the "
            "operator stopped being positive definite along the search direction); the "
            "coefficients are the last iterate", RuntimeWarning, stacklevel=stacklevel)
