"""Matrix-free products with an infinite-width kernel: (K(X, X) + ridge·I) V and K(X', X) V
without storing K (src/cpp/ntkfast/kernel_operator.hpp), for iterative solvers (conjugate
gradients, Lanczos) and for prediction, at sizes whose N×N kernel does not fit in memory.

The implied matrix is exactly the Gram of ``ntkfast.ntk(X)`` (or ``nngp``): each tile comes from
the same tile primitive, computed on the fly, used while hot in cache and dropped. Memory is
O(N·(d + k)) plus the per-point tables (O(N·depth), more for series activations) plus a tile per
thread; the result is bit-identical for any thread count.

The functions take a parsed :class:`~ntkfast._kernel_args.Call` that kept the per-point tables of
every layer: ``_kernel_args.parse(x, None, ..., n_outputs=0)`` (table_budget None: refused with
the sizes when the tables do not fit) for the symmetric operator, ``parse(x_test, x, ...)`` for
the cross product. Numerical (Mehler) activations plan their series from the largest variance
among *all* the points given to parse, so a cross product matches the symmetric operator only
when both were planned alike; the kernel objects built on this module fix the plan once.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

from . import _core
from . import _validation as V
from ._kernel_args import Call
from ._kernel_passes import core_inputs
from ._thread_args import check as check_threads
from ._threads import resolve_n_threads

GETS = ("ntk", "nngp")


def tiles(call: Call):
    """The core's tile kernel of a parsed call (symmetric when ``call.x2`` is None): it holds the
    per-point preparation, so a solver builds it once and applies it many times."""
    full = call.prepared.full
    if full is None:  # parse with a table budget: it works in passes, the operator cannot
        raise ValueError("the kernel operator needs the per-point tables of every layer: parse the "
                         "points with table_budget=None")
    t1, *rest = full
    return _core.kernel_tiles(**core_inputs(call, 0, call.depth, t1, rest[0] if rest else None,
                                            call.x1, call.x2))


def apply_symmetric(call: Call, v, ridge: float = 0.0, get: str = "ntk",
                    n_threads: int | None = None) -> np.ndarray:
    """(K(X, X) + ridge·I) v for X = ``call.x1`` (``call.x2`` None); v of shape (N,) or (N, k),
    the result of the same shape in the kernel's dtype."""
    _need(call, symmetric=True)
    return _symmetric(tiles(call), call, v, ridge, get, n_threads)


def apply_cross(call: Call, v, get: str = "ntk", n_threads: int | None = None) -> np.ndarray:
    """K(X', X) v for X' = ``call.x1``, X = ``call.x2``; v of shape (N,) or (N, k) with N the
    rows of X, the result (N', ) or (N', k): predictions at X' from weights on X."""
    _need(call, symmetric=False)
    get = V.choice(get, "get", GETS)
    threads = resolve_n_threads(n_threads)
    n_test, n = call.x1.shape[0], call.x2.shape[0]
    vv, one_d = V.vectors(v, "v", n, call.dtype)
    if vv.shape[1] == 0:
        y = np.zeros((n_test, 0), call.dtype)
    else:
        y = tiles(call).apply_cross(vv, get == "ntk", threads)
    return y.reshape(n_test) if one_d else y


class KernelOperator(LinearOperator):
    """K(X, X) + ridge·I as a scipy LinearOperator, shape (N, N), never stored: for
    ``scipy.sparse.linalg.cg``, ``eigsh`` and the like. Symmetric, so its adjoint is itself.
    ``n_threads`` is resolved at every product (``ntkfast.set_num_threads`` applies)."""

    def __init__(self, call: Call, *, ridge: float = 0.0, get: str = "ntk",
                 n_threads: int | None = None):
        _need(call, symmetric=True)
        n = call.x1.shape[0]
        super().__init__(dtype=call.dtype, shape=(n, n))
        self.call = call
        self.ridge = V.nonnegative(ridge, "ridge")
        self.get = V.choice(get, "get", GETS)
        self.n_threads = None if n_threads is None else check_threads(n_threads, "n_threads")
        self._tiles = tiles(call)

    def _matmat(self, x):
        return _symmetric(self._tiles, self.call, x, self.ridge, self.get, self.n_threads)

    def _matvec(self, x):
        return self._matmat(x)

    _rmatvec = _matvec
    _rmatmat = _matmat

    def _adjoint(self):
        return self

    _transpose = _adjoint

    # The core's tiles are not picklable: rebuilt from the call after unpickling.
    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_tiles"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._tiles = tiles(self.call)


def _need(call: Call, symmetric: bool) -> None:
    if symmetric and call.x2 is not None:
        raise ValueError("the symmetric kernel operator needs a call parsed with x2=None")
    if not symmetric and call.x2 is None:
        raise ValueError("the cross product needs a call parsed with x1 = the new points, "
                         "x2 = the points of v")


def _symmetric(kernel_tiles, call: Call, v, ridge, get, n_threads) -> np.ndarray:
    ridge = V.nonnegative(ridge, "ridge")
    get = V.choice(get, "get", GETS)
    threads = resolve_n_threads(n_threads)
    n = call.x1.shape[0]
    vv, one_d = V.vectors(v, "v", n, call.dtype)
    if vv.shape[1] == 0:
        y = np.zeros((n, 0), call.dtype)
    else:
        y = kernel_tiles.apply_symmetric(vv, get == "ntk", ridge, threads)
    return y.reshape(n) if one_d else y
