"""Fast path of the hyperparameter gradient (:meth:`ntkfast.InfiniteWidthKernel.value_and_gradient`):
the per-point tables of ntkfast._gradient_tables in numpy (O(N·L)), then the C++ core
(src/cpp/ntkfast/kernel_gradient.hpp) runs every layer of every entry carrying Σ, Θ and their two
derivatives. Only the upper triangle of a symmetric Gram is computed, then mirrored (in C++)."""
from __future__ import annotations

import numpy as np

from . import _core
from . import _gradient_tables as tables
from . import _validation as V

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
    slopes = act.slopes if act.dual == "relu_like" else (0.0, 1.0)
    _core.kernel_gradient(_DUALS[act.dual], float(slopes[0]), float(slopes[1]), depth, wv, bv,
                          get == "ntk", dots, np.ascontiguousarray(t1.sigma),
                          np.ascontiguousarray(t1.d_sigma), coef1, np.ascontiguousarray(t2.sigma),
                          np.ascontiguousarray(t2.d_sigma), coef2, terms, sym, value, grad, threads)
    del dots
    return tables.log_space(value, grad, t1, sym, get, wv, bv)


def _term_major(coef: np.ndarray) -> np.ndarray:
    """(L-1, 4, n, T) → (L-1, 4, T, n): term-major, so the core's loop over a strip of points
    reads each term's coefficients contiguously."""
    return np.ascontiguousarray(np.swapaxes(coef, 2, 3))


def _terms(coef_step: np.ndarray) -> int:
    """Coefficients in use at a layer step (the rest is padding to the widest step)."""
    nonzero = np.flatnonzero(np.abs(coef_step).max(axis=(0, 1)) > 0)
    return int(nonzero[-1]) + 1 if nonzero.size else 1
