"""Preconditioned conjugate gradients for A X = B with several right-hand sides (columns of B),
each column with its own step sizes, stopped column by column.

The relative residual of a column is ||r||/||b|| in one of two norms, both free in PCG:
- "preconditioned": sqrt(rᵀPr)/sqrt(bᵀPb), the residual of the preconditioned system
  BᵀAB β = Bᵀb (P = BBᵀ); with P ≈ A⁻¹ it is about the error's A-norm relative to the
  solution's, the quantity the iteration reduces (Falkon stops on it);
- "euclidean": ||b − A x||₂/||b||₂ (scipy.sparse.linalg.cg's criterion).
Without a preconditioner both are the Euclidean one. The residual is the recursively updated one
(no extra product with A).

Sums over the rows are numpy's pairwise sums (no threads), so the iteration adds nothing that
depends on a thread count. A column whose pᵀAp is not positive (A not positive definite along p,
or a residual at rounding level), or whose rᵀPr is not (P not positive definite), stops there,
unconverged unless already within tol.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np

Apply = Callable[[np.ndarray], np.ndarray]


class PCGOutcome(NamedTuple):
    x: np.ndarray            # (n, O)
    iterations: int          # products with A (all columns together)
    residuals: np.ndarray    # (iterations + 1,): the largest relative residual over the columns
    converged: bool          # every column reached tol


def _colsum(a: np.ndarray) -> np.ndarray:
    return np.sum(a, axis=0)


def pcg(apply_a: Apply, b: np.ndarray, apply_p: Optional[Apply], *, tol: float, maxiter: int,
        norm: str, on_iteration: Optional[Callable[[int, float], None]] = None) -> PCGOutcome:
    """Solve A x = b (b (n, O) float64) from x = 0. ``apply_a`` and ``apply_p`` take and return
    (n, O) arrays; ``on_iteration(k, residual)`` is called after each iteration."""
    x = np.zeros_like(b)
    r = b.copy()
    z = r if apply_p is None else apply_p(r)
    rz = _colsum(r * z)

    def measure(r, rz):
        return np.sqrt(np.maximum(rz, 0.0)) if norm == "preconditioned" else np.sqrt(_colsum(r * r))

    if ((rz <= 0) & (_colsum(r * r) > 0)).any():
        raise ValueError("preconditioner: not positive definite (rᵀPr <= 0 for a right-hand side r)")
    b_norm = measure(r, rz)
    scale = np.where(b_norm > 0, b_norm, 1.0)
    rel = np.where(b_norm > 0, b_norm / scale, 0.0)  # b = 0: x = 0 is exact
    history = [float(rel.max())]
    active = rel > tol
    p = z.copy()
    k = 0
    while active.any() and k < maxiter:
        q = apply_a(p)
        pq = _colsum(p * q)
        good = active & (pq > 0) & np.isfinite(pq)
        step = np.where(good, rz / np.where(good, pq, 1.0), 0.0)
        x += step * p
        r -= step * q
        z = r if apply_p is None else apply_p(r)
        rz_new = _colsum(r * z)
        # rᵀPr <= 0 for r != 0: P is not positive definite (rounding in a bad preconditioner);
        # the column stops with its last residual rather than report sqrt(0) as converged
        good &= (rz_new > 0) | (_colsum(r * r) == 0)
        rel = np.where(good, measure(r, rz_new) / scale, rel)
        k += 1
        history.append(float(rel.max()))
        beta = np.where(good, rz_new / np.where(rz > 0, rz, 1.0), 0.0)
        p = z + beta * p
        rz = np.where(good, rz_new, rz)
        active = good & (rel > tol)
        if on_iteration is not None:
            on_iteration(k, history[-1])
    return PCGOutcome(x, k, np.array(history), bool((rel <= tol).all()))
