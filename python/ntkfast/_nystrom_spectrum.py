"""The Nyström kernel K̃ = K(X, C) K(C, C)⁻¹ K(C, X) = Φ Φᵀ through the M × M matrix ΦᵀΦ, with
Φ = K(X, C) T⁻¹ (N × M, TᵀT = K(C, C) + jitter·I): kernel gradient descent at a finite time on
K̃ (ntk-math.md §4), and (K̃ + ρI)⁻¹ by Woodbury for the full system's preconditioner.

Φ is never stored: one pass over blocks of rows (factor_rows: about 16 MB of kernel values each;
summed per chunk, then over the chunks in order: _nystrom_blocks)
forms Φ_b = K_b T⁻¹ (a triangular solve per block, backward stable however ill-conditioned
K(C, C) is) and accumulates ΦᵀΦ = Σ Φ_bᵀ Φ_b and
Φᵀ y = Σ Φ_bᵀ y_b. With ΦᵀΦ + ρI = W Λ Wᵀ (eigh, M × M) and g_t(λ) = (1 − e^{−tλ/N})/λ:

    f_t(x*) = K̃(x*, X) g_t(K̃ + ρI) y = K(x*, C) α_t,   α_t = T⁻¹ W g_t(Λ) Wᵀ Φᵀ y

since Φ = U S Wᵀ gives Φᵀ g_t(ΦΦᵀ + ρI) = W g_t(S² + ρ) S Uᵀ = W g_t(Λ) Wᵀ Φᵀ (the part of
g_t(K̃ + ρI) off the range of Φ is annihilated by Φᵀ). So prediction needs only the M × M factors.
At t = ∞, α = T⁻¹(ΦᵀΦ + ρI)⁻¹T⁻ᵀ K(C, X) y = (K_mnK_nm + ρ (K_mm + jitter))⁻¹ K_mn y: the
Nyström ridge solution (exactly, for jitter 0). With M = N and C = X, K̃ = K and this is
kernel_gd_mse's f_t(x*) for f_0 = 0.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import scipy.linalg as sla

from . import _spectral as spectral


class NystromSpectrum:
    """ΦᵀΦ + ρI = W diag(lam) Wᵀ and Φᵀ y (when y is given), from one pass over the rows
    (``rows.factor_sums``: a _nystrom_blocks.KernelRows, or ntkfast.dask's chunks on workers;
    the Woodbury products need a KernelRows)."""

    def __init__(self, rows, t_factor: np.ndarray, ridge: float,
                 y: Optional[np.ndarray] = None, on_block: Optional[Callable[[int], None]] = None):
        self.rows, self.t_factor, self.ridge = rows, t_factor, ridge
        gram, phi_y = rows.factor_sums(t_factor, y, on_block)
        gram = np.triu(gram) + np.triu(gram, 1).T
        self.phi_y = phi_y
        self.lam, self.w, self.zero = spectral.spectrum(gram, ridge, name="ΦᵀΦ (Nyström)")

    def gd_coefficients(self, t: float, n: int) -> np.ndarray:
        """α_t (M, O) of f_t(x*) = K(x*, C) α_t for f_0 = 0, time t (1/N convention)."""
        g = spectral.bracket(self.lam, t, n, self.zero)
        inner = self.w @ (g[:, None] * (self.w.T @ self.phi_y))
        return sla.solve_triangular(self.t_factor, inner, check_finite=False)

    def woodbury(self, r: np.ndarray) -> np.ndarray:
        """(K̃ + ρI)⁻¹ r = (r − Φ (ΦᵀΦ + ρI)⁻¹ Φᵀ r)/ρ for r (N, O): two passes over the rows."""
        phit_r = sla.solve_triangular(self.t_factor, self.rows.transpose_apply(r), trans="T",
                                      check_finite=False)
        # eigenvalues counted as 0 are rounding: ΦᵀΦ + ρI >= ρ in exact arithmetic
        inv = self.w @ ((1.0 / np.maximum(self.lam, self.ridge))[:, None] * (self.w.T @ phit_r))
        phi_inv = self.rows.apply(sla.solve_triangular(self.t_factor, inv, check_finite=False))
        return (r - phi_inv) / self.ridge
