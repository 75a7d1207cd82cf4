"""The empirical NTK (or NNGP) of a given finite network as an object, computed by the C++ core.

    >>> k = ntkfast.EmpiricalKernel(net, output="trace")
    >>> k(X)                      # the Gram, (N, N): empirical_ntk(net, X)
    >>> k(X_test, X)              # a cross kernel
    >>> k.diag(X)                 # K(x_i, x_i), (N,): the Gram's diagonal bit for bit
    >>> k.tile(X[a:b], X[c:d], offsets=(a, c))   # == k(X)[a:b, c:d], bit for bit

The object holds a frozen copy of the network's parameters: later changes to ``net`` (training)
do not reach it. It is immutable, hashable (by the parameters' content and the settings),
comparable and picklable, so it travels to worker processes and serves as a cache key.
``ntkfast.empirical_ntk`` and ``empirical_nngp`` are thin wrappers around it.

Why tiles match: every product (the passes' W·a and δ·W, the Gram's a·a' and δ·δ') is computed
per entry in a fixed order (src/cpp/ntkfast/row_dots.hpp), so an entry depends on its two points
only, never on the other rows of the call, the thread count or the memory_budget's row blocks.
"""
from __future__ import annotations

import numpy as np

from . import _empirical_passes as P
from . import _validation as V
from ._empirical_args import finite_result, parse_checked
from ._empirical_object import EmpiricalKernelBase
from ._threads import resolve_n_threads

__all__ = ["EmpiricalKernel"]


class EmpiricalKernel(EmpiricalKernelBase):
    """Θ_kk'(x, x') = Σ_p ∂f_k(x)/∂θ_p · ∂f_k'(x')/∂θ_p of ``net`` (``get="ntk"``), or its
    NNGP s_w² a^(L-1)(x)·a^(L-1)(x') + s_b² (``get="nngp"``).

    Parameters
    ----------
    net : ntkfast.MLP; its arrays are copied (and frozen) now.
    get : "ntk" (default) or "nngp".
    output : for the NTK, ``"trace"`` (the mean over outputs of Θ_kk: entries are scalars),
        ``"diagonal"`` (Θ_kk: entries of shape (n_L,)) or ``"full"`` (entries (n_L, n_L)); the
        NNGP is one kernel for every output and takes ``"trace"`` only. ``output_shape`` is the
        shape of one entry.
    memory_budget : bytes for the per-layer features, as in :func:`ntkfast.empirical_ntk`;
        results do not depend on it (nor is it part of equality).

    Computed in the network's dtype (``dtype``).
    """

    __slots__ = ()

    def _what(self) -> str:
        return "empirical_ntk" if self.get == "ntk" else "empirical_nngp"

    def _pair(self, x1, x2, *, per_layer, n_threads):
        call = parse_checked(self._cn, x1, x2, self.output, per_layer)
        threads = resolve_n_threads(n_threads)
        cn = call.net
        out = np.empty(call.out_shape, cn.dtype)
        layers = np.empty((cn.depth,) + call.out_shape, cn.dtype) if per_layer else None
        kernel = P.Kernel(cn, self.get == "nngp", threads)
        P.gram_blocks(kernel, call.x1, call.x2, call.output, out, layers, threads, self.memory_budget)
        finite_result(out, self._what(), cn.dtype)
        return out, layers

    def _diagonal(self, x, n_threads):
        a = self._points(x, "x")
        threads = resolve_n_threads(n_threads)
        cn = self._cn
        shape = (a.shape[0],) + self.output_shape
        V.check_output_fits(int(np.prod(shape, dtype=np.int64)) * cn.dtype.itemsize,
                            f"an empirical kernel diagonal of shape {shape} ({cn.dtype})")
        out = np.empty(shape, cn.dtype)
        kernel = P.Kernel(cn, self.get == "nngp", threads)
        P.diagonal_blocks(kernel, a, self.output, out, threads, self.memory_budget)
        return finite_result(out, self._what(), cn.dtype)
