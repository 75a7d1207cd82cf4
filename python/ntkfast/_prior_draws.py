"""Gaussian draws with a given covariance on given points (paper §3.1: random functions whose
covariance is the kernel), by a jittered Cholesky factor or the eigendecomposition. Shared by
ntkfast.random_functions and its numpy twin.

A Gram of distinct points is positive definite in exact arithmetic, but a rounded one can fail
Cholesky (tiny or rounding-negative eigenvalues). The factor is then taken of K + jitter·I with
the smallest jitter of the ladder 0, eps·s, 10·eps·s, ... (s the mean diagonal) that succeeds,
up to MAX_JITTER_RTOL·s; the jitter is reported so the user knows the covariance drawn from.
The eigendecomposition instead clips negative eigenvalues to 0 and reports the largest clipped
magnitude as its jitter: it never fails and draws exactly the nearest semidefinite covariance.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

MAX_JITTER_RTOL = 1e-4
METHODS = ("cholesky", "eigh")


class PriorDraws(NamedTuple):
    """``f`` (P, N) for a scalar Gram and n_outputs=1, else (P, N, O): P functions on the N points, each output an independent draw
    (K ⊗ Id) for a scalar Gram, the joint draw for full blocks; ``jitter`` what was added to the
    diagonal (Cholesky) or clipped off negative eigenvalues (eigh), in the Gram's units;
    ``method`` the factorization used."""
    f: np.ndarray
    jitter: float
    method: str


def factor(k: np.ndarray, method: str) -> tuple[np.ndarray, float]:
    """A matrix L with L Lᵀ = K (+ jitter·I for Cholesky), and the jitter."""
    if method == "eigh":
        lam, v = np.linalg.eigh(k)
        clipped = max(0.0, -float(lam.min()))
        return v * np.sqrt(np.maximum(lam, 0.0)), clipped
    scale = float(np.mean(np.diag(k)))
    eps = np.finfo(np.float64).eps
    jitter = 0.0
    while True:
        try:
            return np.linalg.cholesky(k + jitter * np.eye(k.shape[0]) if jitter else k), jitter
        except np.linalg.LinAlgError:
            jitter = eps * scale if jitter == 0.0 else 10.0 * jitter
            if not scale > 0 or jitter > MAX_JITTER_RTOL * scale:
                raise np.linalg.LinAlgError(
                    f"kernel: Cholesky failed even with a jitter of {MAX_JITTER_RTOL:g} of the mean "
                    f"diagonal ({MAX_JITTER_RTOL * max(scale, 0.0):.3g}); the Gram is far from "
                    f"positive definite; use method='eigh' (clips negative eigenvalues)") from None


def draw(k: np.ndarray, n_points: int, n_draws: int, n_outputs: int, method: str,
         rng: np.random.Generator) -> PriorDraws:
    """P draws of N(0, K ⊗ Id_O) (scalar Gram, order N) or N(0, K) (full blocks, order N·O)."""
    l, jitter = factor(k, method)
    m = k.shape[0]
    if m == n_points:
        z = rng.standard_normal((m, n_draws * n_outputs))
        f = (l @ z).reshape(m, n_draws, n_outputs).transpose(1, 0, 2)
        if n_outputs == 1:
            f = f[:, :, 0]
    else:
        z = rng.standard_normal((m, n_draws))
        f = (l @ z).T.reshape(n_draws, n_points, m // n_points)
    return PriorDraws(np.ascontiguousarray(f), jitter, method)
