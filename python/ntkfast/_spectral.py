"""The eigen-decomposition behind the closed-form MSE dynamics (ntk-math.md §4) and the
functions of its eigenvalues: exp(−tΛ/N), its change, and the test-output bracket
(1 − exp(−tΛ/N))/Λ. Shared by ntkfast.dynamics and ntkfast.reference.dynamics."""
from __future__ import annotations

import numpy as np

from . import _interruptible as interruptible

# An eigenvalue below −INDEFINITE_TOL·λ_max is not rounding: the kernel is not a kernel.
INDEFINITE_TOL = 1e-6


def spectrum(k: np.ndarray, ridge: float, name: str = "k_train"):
    """eigh of K + ridge·I, which eigenvalues count as 0 (below N·eps·λ_max, negative rounding
    included), and a refusal when K is clearly indefinite (its dynamics would blow up)."""
    n = k.shape[0]
    lam, v = interruptible.eigh(k + ridge * np.eye(n) if ridge else k)
    top = max(float(lam.max()), 0.0)
    if lam.min() < -INDEFINITE_TOL * top or (top == 0.0 and lam.min() < 0.0):
        raise ValueError(
            f"{name}: expected a positive semi-definite kernel, but its smallest eigenvalue is "
            f"{lam.min():.3g} against a largest of {lam.max():.3g} (beyond rounding: "
            f"{INDEFINITE_TOL:g} of the largest); kernel gradient descent would diverge")
    zero = lam <= eigen_cutoff(lam, n)
    return np.where(zero, 0.0, lam), v, zero


def eigen_cutoff(lam: np.ndarray, n: int) -> float:
    """Eigenvalues below N·eps·λ_max (negative rounding included) are treated as 0."""
    return n * np.finfo(np.float64).eps * max(float(lam.max()), 0.0)


def decay(lam: np.ndarray, t: float, n: int, zero: np.ndarray) -> np.ndarray:
    """exp(−tλ/N), 1 on the null space (those directions do not move), 0 at t=∞ elsewhere."""
    if np.isinf(t):
        return np.where(zero, 1.0, 0.0)
    with np.errstate(over="ignore"):  # t·λ beyond float64 (t near its max): -inf, exp gives 0
        return np.where(zero, 1.0, np.exp(-t * np.where(zero, 0.0, lam) / n))


def decay_change(lam: np.ndarray, t: float, n: int, zero: np.ndarray) -> np.ndarray:
    """exp(−tλ/N) − 1 by expm1, 0 on the null space."""
    with np.errstate(over="ignore"):  # as in decay: expm1(-inf) = -1 is right
        return np.where(zero, 0.0, np.expm1(-t * np.where(zero, 0.0, lam) / n))


def early(lam: np.ndarray, t: float, n: int) -> bool:
    """Whether to write the training outputs as f_0 + V [e^{−tΛ/N} − 1] Vᵀ (f_0 − y) (every mode
    has moved by less than 1 − 1/e: the change is small and this keeps its digits) rather than
    y + V e^{−tΛ/N} Vᵀ (f_0 − y) (later: exact y where the modes have converged, a zero loss at
    t=∞ instead of rounding)."""
    with np.errstate(over="ignore"):  # t·λ_max = inf for huge t: correctly not early
        return bool(np.isfinite(t) and t * max(float(lam.max()), 0.0) <= n)


def bracket(lam: np.ndarray, t: float, n: int, zero: np.ndarray) -> np.ndarray:
    """(1 − exp(−tλ/N)) / λ: t/N on the null space (0 at t=∞: the pseudo-inverse)."""
    safe = np.where(zero, 1.0, lam)
    if np.isinf(t):
        return np.where(zero, 0.0, 1.0 / safe)
    # Null directions contribute nothing: in exact arithmetic K(x*, X) v = 0 there, and t/N
    # times its rounding would grow without bound with t.
    with np.errstate(over="ignore"):  # t·λ = inf for huge t: expm1(-inf) = -1 gives 1/λ, right
        return np.where(zero, 0.0, -np.expm1(-t * safe / n) / safe)
