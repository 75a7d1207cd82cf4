"""Fast path of the hyperparameter gradient (:meth:`ntkfast.InfiniteWidthKernel.value_and_gradient`):
the per-point tables of ntkfast._gradient_tables in numpy (O(N·L)), then the C++ core
(src/cpp/ntkfast/kernel_gradient.hpp) runs every layer of every entry carrying Σ, Θ and their two
derivatives. Only the upper triangle of a symmetric Gram is computed, then mirrored (in C++)."""
from __future__ import annotations

import numpy as np

from . import _core
from . import _gradient_tables as tables
from . import _validation as V
from ._mehler import PAIR_TOL

_DUALS = {"relu_like": 0, "erf": 1, "identity": 2, "sin": 3, "mehler": 4}


def value_and_gradient(call, get: str, threads: int):
    """(K, ∂K/∂log σ_w², ∂K/∂log σ_b² as (N1, N2, 2)); ``call`` as in reference.gradients."""
    act, wv, bv, depth = call.act, call.weight_var, call.bias_var, call.depth
    sym = call.x2 is None
    x1 = call.x1.astype(np.float64)
    x2 = x1 if sym else call.x2.astype(np.float64)
    n1, n2 = x1.shape[0], x2.shape[0]
    V.check_output_fits(4 * n1 * n2 * 8, f"the kernel, its gradient (2 arrays) and the inputs' "
                        f"dot products, ({n1}, {n2}) each, float64", "use fewer points per call")
    t = tables.tables(act, [x1] if sym else [x1, x2], depth, wv, bv)
    t1, t2 = t[0], t[-1]
    dots = x1 @ x2.T
    dots /= x1.shape[1]
    value = np.empty((n1, n2))
    grad = np.empty((n1, n2, 2))
    mehler = act.dual == "mehler" and depth > 1
    coef1 = _term_major(t1.coef) if mehler else None
    coef2 = coef1 if sym or not mehler else _term_major(t2.coef)
    terms = np.array([_terms(c) for c in t1.coef] if mehler else [], dtype=np.int64)
    limits = (np.stack([rho_limits(c1, c2) for c1, c2 in zip(t1.coef, t2.coef)]) if mehler
              else np.empty((0, 1)))
    slopes = act.slopes if act.dual == "relu_like" else (0.0, 1.0)
    _core.kernel_gradient(_DUALS[act.dual], float(slopes[0]), float(slopes[1]), depth, wv, bv,
                          get == "ntk", dots, np.ascontiguousarray(t1.sigma),
                          np.ascontiguousarray(t1.d_sigma), coef1, np.ascontiguousarray(t2.sigma),
                          np.ascontiguousarray(t2.d_sigma), coef2, terms, limits, bool(act.odd), sym,
                          value, grad, threads)
    del dots
    return tables.log_space(value, grad, t1, sym, get, wv, bv)


def _term_major(coef: np.ndarray) -> np.ndarray:
    """(L-1, 4, n, T) → (L-1, 4, T, n): term-major, so the core's loop over a strip of points
    reads each term's coefficients contiguously."""
    return np.ascontiguousarray(np.swapaxes(coef, 2, 3))


# The seven Mehler sums of the gradient: (order of φ for x1, order for x2), see dual_partials.hpp.
PAIRS = ((0, 0), (1, 1), (2, 0), (0, 2), (3, 1), (1, 3), (2, 2))


def rho_limits(coef1: np.ndarray, coef2: np.ndarray) -> np.ndarray:
    """Per number q of terms kept (index q = 0..T): the largest |ρ| for which dropping the terms
    n >= q changes none of the seven sums Σ_n c^(u)_n c^(v)_n ρ^n by more than
    PAIR_TOL · sqrt(Σ_n A_n² Σ_n B_n²), A_n, B_n the largest |c^(u)_n|, |c^(v)_n| over all points
    (a bound on any sum's scale): the dropped part is at most |ρ|^q Σ_{n>=q} A_n B_n. Non-
    decreasing in q; the last entry is inf (nothing dropped). The core keeps, per strip of
    entries, the fewest terms whose limit covers the strip's largest |ρ|: entries away from
    ρ = ±1 need far fewer terms than the diagonal."""
    a = np.abs(coef1).max(axis=1)                        # (4, T): over the points of x1
    b = np.abs(coef2).max(axis=1)
    t = a.shape[1]
    lim = np.full(t + 1, np.inf)
    q = np.arange(1, t + 1, dtype=float)
    for u, v in PAIRS:
        w = a[u] * b[v]
        tail = np.cumsum(w[::-1])[::-1]                  # Σ_{n>=q} for q = 0..T-1
        scale = np.sqrt(np.sum(a[u] ** 2) * np.sum(b[v] ** 2))
        with np.errstate(divide="ignore", over="ignore"):
            this = np.where(tail[1:] > 0, (PAIR_TOL * scale / np.maximum(tail[1:], 1e-300)) ** (1 / q[:-1]), np.inf)
        lim[1:t] = np.minimum(lim[1:t], this)
    lim[0] = 0.0
    lim[t] = np.inf
    return np.maximum.accumulate(lim)


def _terms(coef_step: np.ndarray) -> int:
    """Coefficients in use at a layer step (the rest is padding to the widest step)."""
    nonzero = np.flatnonzero(np.abs(coef_step).max(axis=(0, 1)) > 0)
    return int(nonzero[-1]) + 1 if nonzero.size else 1
