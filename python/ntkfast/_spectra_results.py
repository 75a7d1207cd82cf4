"""What ntkfast.spectra returns, and the verdict of the positive-definiteness check: shared by the
fast path and its numpy twin so both classify the same eigenvalues alike.

Units: eigenvalues are those of K/N, the kernel's operator on the empirical input distribution
p_in (paper, appendix): ‖K‖_op = λ_max(K)/N, and under kernel gradient descent on the MSE
(ntk-math.md §4) the residual along eigenvector v_i decays as exp(−λ_i t) with these λ_i.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

# An eigenvalue of K below −INDEFINITE_RTOL·λ_max is beyond any rounding of a positive
# semi-definite Gram: the matrix is indefinite. The same bound kernel_gd_mse refuses at
# (_spectral.INDEFINITE_TOL).
INDEFINITE_RTOL = 1e-6


class Eigenpairs(NamedTuple):
    """``values`` (k,) eigenvalues of K/N, descending for which="top", ascending for "bottom";
    ``vectors`` (M, k) orthonormal columns (M = N, or N·O for full output blocks, index
    i·O + a); ``residuals`` (k,) ‖(K/N) v − λ v‖₂ of each pair; ``method`` "dense" (eigh) or
    "lanczos" (scipy's eigsh, matrix-free where the kernel allows); ``n_points`` N."""
    values: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray
    method: str
    n_points: int


class Definiteness(NamedTuple):
    """The verdict on ‖f‖_p_in > 0 ⇒ ‖f‖_K > 0 on the data, from the eigenvalues of the Gram K.

    ``verdict``: "positive definite" (every eigenvalue above ``tolerance``), "semidefinite (rank
    r of M)" (the smallest within ±``tolerance`` of 0: r eigenvalues above it), "indefinite by
    rounding only" (an eigenvalue below −tolerance but above −``indefinite_tolerance``: more
    negative than the eigensolver's rounding, yet too small to come from a kernel that is not
    one, e.g. float32 Grams or series truncation) or "indefinite" (below that).
    ``tolerance`` = rtol·λ_max(K), rtol = M·eps by default: eigh is backward stable, each
    computed eigenvalue is within a small multiple of eps·‖K‖₂ of an exact one, so an eigenvalue
    within the tolerance cannot be told from 0. That covers a Gram whose entries are exact to a
    few ulps (float64 closed forms); entries with larger errors (float32 kernels, series
    truncation) perturb the eigenvalues by up to M·max|error|, and need a larger rtol.
    Eigenvalues here are of K (not K/N)."""
    verdict: str
    positive_definite: bool
    rank: int
    size: int
    smallest: float
    largest: float
    tolerance: float
    indefinite_tolerance: float


class SpectrumNotConvergedError(RuntimeError):
    """Lanczos did not deliver the eigenpairs to the tolerance asked; ``residuals`` has the
    residual norms it reached (NaN for pairs it did not return)."""

    def __init__(self, message: str, residuals: np.ndarray):
        super().__init__(message)
        self.residuals = residuals


def residuals(k_apply, values: np.ndarray, vectors: np.ndarray, n: int) -> np.ndarray:
    """‖(K/N) v_i − λ_i v_i‖₂ for each column, K applied by ``k_apply`` (one block product)."""
    kv = np.asarray(k_apply(vectors)).reshape(vectors.shape) / n
    return np.linalg.norm(kv - vectors * values, axis=0)


def classify(lam: np.ndarray, rtol: float | None) -> Definiteness:
    """The verdict from all eigenvalues of K (any order)."""
    size = lam.size
    rtol = size * np.finfo(np.float64).eps if rtol is None else rtol
    top = max(float(lam.max()), 0.0)
    low = float(lam.min())
    tol = float(rtol * top)
    itol = max(INDEFINITE_RTOL * top, tol)
    rank = int(np.count_nonzero(lam > tol))
    if low > tol:
        verdict = "positive definite"
    elif low >= -tol:
        verdict = f"semidefinite (rank {rank} of {size})"
    elif low >= -itol:
        verdict = "indefinite by rounding only"
    else:
        verdict = "indefinite"
    return Definiteness(verdict, verdict == "positive definite", rank, size, low, float(lam.max()),
                        tol, itol)
