"""The Falkon preconditioner (Rudi, Carratino & Rosasco, "FALKON: An Optimal Large Scale Kernel
Method", NeurIPS 2017, Alg. 1) and the jittered Cholesky factor of K(C, C) it is built from.

Nyström kernel ridge regression in ntkfast's convention (ridge ρ added to the kernel's diagonal,
as in kernel_gd_mse) solves

    H α = K(C, X) y,    H = K(C, X) K(X, C) + ρ K(C, C)                    (M × M)

Falkon writes the same problem per sample, min (1/N)||K_nm α − y||² + λ αᵀ K_mm α, whose normal
equations are (K_mnK_nm + Nλ K_mm) α = K_mn y: the same system with λ = ρ / N. For centers drawn
uniformly from X, K_mn K_nm ≈ (N/M) K_mm², so with K_mm = TᵀT (T upper triangular) and
AᵀA = T Tᵀ / M + λ I,

    P = (1/N) T⁻¹ A⁻¹ A⁻ᵀ T⁻ᵀ,   P⁻¹ = N Tᵀ (T Tᵀ/M + λ I) T = (N/M) K_mm² + ρ K_mm ≈ H,

four triangular solves of order M per application (two for B = T⁻¹A⁻¹/√N, two for Bᵀ). H itself
is applied exactly (K_mm from the kernel, not from T), so the preconditioner, jitter included,
changes the iteration count, never the solution. With M = N and C = X, P = H⁻¹: one iteration.

A larger sample S ⊃ C of the training points (``sample``) estimates K_mn K_nm ≈ (N/S) K_ms K_sm
instead: AᵀA = Ψᵀ Ψ / S + λ I with Ψ = K(S, C) T⁻¹ (Ψ = Tᵀ on the centers, so S = C is Falkon's
A). The better estimate takes CG fewer iterations when M is small next to the effective dimension
at λ (nystrom_krr's preconditioner_points).
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg as sla

from ._spectral import INDEFINITE_TOL

# Jitter ladder for a K(C, C) that Cholesky refuses: from eps·M·max diag, ×10 per try, up to
# INDEFINITE_TOL·max diag. Beyond that the matrix is not positive semi-definite to rounding (the
# threshold ntkfast.dynamics refuses a kernel at), and is refused with its smallest eigenvalue.
JITTER_GROWTH = 10.0


def cholesky_with_jitter(a: np.ndarray, what: str, *, warn: str = "") -> tuple[np.ndarray, float]:
    """Upper T with TᵀT = a + jitter·I, jitter 0 when Cholesky accepts ``a`` as it is. When
    jitter was needed and ``warn`` is not empty, a RuntimeWarning names it; ``warn`` says what the
    jitter affects."""
    try:
        return sla.cholesky(a, lower=False, check_finite=False), 0.0
    except sla.LinAlgError:
        pass
    m = a.shape[0]
    top = float(np.max(np.diagonal(a)))
    scale = top if top > 0 else 1.0
    jitter = np.finfo(np.float64).eps * m * scale
    while jitter <= INDEFINITE_TOL * scale:
        try:
            t = sla.cholesky(a + jitter * np.eye(m), lower=False, check_finite=False)
        except sla.LinAlgError:
            jitter *= JITTER_GROWTH
            continue
        if warn:
            warnings.warn(
                f"{what} is not positive definite in floating point (Cholesky failed); added "
                f"jitter {jitter:.3g} (= {jitter / scale:.3g} x its largest diagonal entry "
                f"{top:.3g}) to its diagonal; {warn}", RuntimeWarning, stacklevel=3)
        return t, jitter
    smallest = float(sla.eigvalsh(a, check_finite=False, subset_by_index=[0, 0])[0])
    raise ValueError(
        f"{what} is not positive semi-definite: its smallest eigenvalue is {smallest:.3g} against "
        f"a largest diagonal entry of {top:.3g}, and a jitter up to {INDEFINITE_TOL:g} x that "
        "diagonal did not make Cholesky succeed; check the kernel (it must be positive "
        "semi-definite) and the centers")


class FalkonPreconditioner:
    """``p(r)`` = P r for r (M, O), P ≈ H⁻¹ as in the module's docstring."""

    def __init__(self, t: np.ndarray, n: int, ridge: float, sample=None):
        m = t.shape[0]
        self.t, self.n = t, n
        # Ψ_Cᵀ Ψ_C = T Tᵀ for the centers (Ψ = K(·, C) T⁻¹); a larger sample adds its own rows.
        inner = t @ t.T
        if sample is None:
            inner /= m
        else:
            upper, extra = sample
            inner += np.triu(upper) + np.triu(upper, 1).T
            inner /= m + extra
        inner[np.diag_indices(m)] += ridge / n   # Falkon's per-sample λ = ρ / N
        # A is only ever part of the preconditioner: a jitter here changes no solution.
        self.a, _ = cholesky_with_jitter(inner, "ΨᵀΨ/S + (ridge/N) I (T Tᵀ/M without a sample)")

    def __call__(self, r: np.ndarray) -> np.ndarray:
        z = sla.solve_triangular(self.t, r, trans="T", check_finite=False)
        z = sla.solve_triangular(self.a, z, trans="T", check_finite=False)
        z = sla.solve_triangular(self.a, z, check_finite=False)
        z = sla.solve_triangular(self.t, z, check_finite=False)
        return z / self.n
