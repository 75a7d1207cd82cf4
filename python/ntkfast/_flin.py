"""Gradient descent on θ for the random linear model F^lin(θ) = P^(−1/2) Σ_p θ_p f^(p) (paper
§3.1), integrated in parameter space: the θ ODE

    ∂_t θ_p = −P^(−1/2) ⟨d, f^(p)⟩_p_in = −P^(−1/2) (1/N) Σ_i d(x_i)·f^(p)(x_i),

with C = (1/N) Σ_i ℓ(f(x_i), y_i) as in ntk-math.md §4. The paper shows F^lin(θ_t) then follows
kernel gradient descent with K̃ = (1/P) Σ f^(p) ⊗ f^(p); this module never forms K̃, so comparing
the two is a test of the theorem, not of one computation against itself.

Writing M = F/√P for the (N·O, P) matrix of the functions (column p is f^(p) flattened), the
ODE is θ' = −(1/N) Mᵀ d(Mθ). MSE is linear: with the thin SVD M = U S Wᵀ and c = Wᵀθ,
c_t = c_0 + expm1(−tS²/N)(c_0 − c*), S c* = Uᵀy, and θ moves only in span(W) (exact at any t).
Cross-entropy: classical RK4 on θ with steps of at most dt (default DT_FRACTION·N/‖M‖²_F, a
bound on N/λ_max(K̃): about 1e-12 relative per unit time).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _dynamics_losses as losses

DT_FRACTION = 0.01


class FlinGDResult(NamedTuple):
    """``t`` (T,); ``theta`` (T, P); ``f_train`` (T, N) or (T, N, O) = F^lin(θ_t) on the points;
    ``loss`` (T,) C(F^lin(θ_t))."""
    t: np.ndarray
    theta: np.ndarray
    f_train: np.ndarray
    loss: np.ndarray


def design(f: np.ndarray) -> np.ndarray:
    """M = F/√P, (N·O, P), from the functions f (P, N, O)."""
    p = f.shape[0]
    return f.reshape(p, -1).T / np.sqrt(p)


def mse_thetas(m: np.ndarray, y: np.ndarray, ts: np.ndarray, theta0: np.ndarray, n: int):
    u, s, wt = np.linalg.svd(m, full_matrices=False)
    live = s > s.max(initial=0.0) * max(m.shape) * np.finfo(np.float64).eps
    c0 = wt @ theta0
    cstar = np.where(live, (u.T @ y.ravel()) / np.where(live, s, 1.0), c0)
    out = np.empty((ts.size, theta0.size))
    for j, t in enumerate(ts):
        step = np.where(live, np.expm1(-t * s * s / n), 0.0) if np.isfinite(t) else \
            np.where(live, -1.0, 0.0)
        out[j] = theta0 + wt.T @ (step * (c0 - cstar))
    return out


def rk4_thetas(m: np.ndarray, y: np.ndarray, ts: np.ndarray, theta0: np.ndarray, n: int,
               derivative, dt: float | None):
    shape = y.shape
    if dt is None:
        frob = float(np.sum(m * m))
        dt = DT_FRACTION * n / frob if frob > 0 else 1.0

    def rhs(theta):
        return -(m.T @ derivative((m @ theta).reshape(shape), y).ravel()) / n

    out = np.empty((ts.size, theta0.size))
    theta, now = theta0.copy(), 0.0
    for j, t in enumerate(ts):
        steps = int(np.ceil((t - now) / dt)) if t > now else 0
        h = (t - now) / steps if steps else 0.0
        for _ in range(steps):
            k1 = rhs(theta)
            k2 = rhs(theta + 0.5 * h * k1)
            k3 = rhs(theta + 0.5 * h * k2)
            k4 = rhs(theta + h * k3)
            theta = theta + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        now = t
        out[j] = theta
    return out


def loss_functions(kind: str):
    if kind == "mse":
        return losses.mse_value, losses.mse_derivative
    return losses.cross_entropy_value, losses.cross_entropy_derivative
