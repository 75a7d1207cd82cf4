"""A Nyström preconditioner for the full kernel ridge system (K + ρI) α = y (cg_krr).

Falkon preconditions the M × M Nyström system by replacing K_mnK_nm with (N/M) K_mm². The full
N × N system is preconditioned by the same low-rank idea one level up: K ≈ K̃ = K_nm K_mm⁻¹ K_mn =
ΦΦᵀ, and (K̃ + ρI)⁻¹ is applied exactly by Woodbury,

    P r = (K̃ + ρI)⁻¹ r = (r − Φ (ΦᵀΦ + ρI)⁻¹ Φᵀ r) / ρ,

with ΦᵀΦ + ρI factored once (eigh, M × M, from one pass over K(X, C): _nystrom_spectrum). P is
symmetric positive definite with eigenvalues in [1/(||K̃|| + ρ), 1/ρ]; where K̃ captures K's large
eigenvalues, P(K + ρI) has its spectrum near 1 plus (K − K̃)/ρ, whose size sets the iteration
count. Each application is two passes over K(X, C) (kept in memory when it fits the budget).
Needs ρ > 0 (K̃ has rank M < N).
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

from ._nystrom_spectrum import NystromSpectrum


class NystromPreconditioner(LinearOperator):
    """(K̃ + ridge·I)⁻¹ as a scipy LinearOperator (N × N, float64): usable as ``preconditioner``
    of :func:`ntkfast.regression.cg_krr` and as ``M`` of ``scipy.sparse.linalg.cg``.
    ``centers``, ``center_indices``, ``ridge`` and ``jitter`` say how it was built."""

    def __init__(self, spectrum: NystromSpectrum, centers: np.ndarray, center_indices, jitter: float):
        n = spectrum.rows.n
        super().__init__(dtype=np.dtype(np.float64), shape=(n, n))
        self._spectrum = spectrum
        self.centers, self.center_indices, self.jitter = centers, center_indices, jitter
        self.ridge = spectrum.ridge

    def _matmat(self, r):
        return self._spectrum.woodbury(np.asarray(r, dtype=np.float64).reshape(self.shape[0], -1))

    def _matvec(self, r):
        return self._matmat(r)[:, 0]

    def _adjoint(self):
        return self  # symmetric
