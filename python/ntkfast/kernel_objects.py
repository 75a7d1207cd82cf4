"""Kernels as objects: the infinite-width NTK or NNGP of a fully-connected network, frozen with
its parameters, computed by the C++ tile primitive.

    >>> k = ntkfast.InfiniteWidthKernel(depth=3, activation="tanh").planned_for(X)
    >>> k(X)                      # the Gram, (N, N)
    >>> k(X_test, X)              # a cross kernel
    >>> k.diag(X)                 # K(x_i, x_i), O(N·L)
    >>> k.tile(X[a:b], X[c:d], offsets=(a, c))   # == k(X)[a:b, c:d], bit for bit

The objects are immutable, hashable, comparable and picklable (the activation pickles as the
call that made it, see ntkfast.activations), so they travel to worker processes and serve as
cache keys. ``ntkfast.ntk``, ``nngp``, ``kernels`` and the ``*_diag`` functions are thin wrappers
around them.
"""
from __future__ import annotations

import numpy as np

from ._kernel_args import KernelResult, make_result, n_output_arrays, parse, parse_diag
from ._kernel_object import InfiniteWidthKernelBase
from ._kernel_passes import projector, run, table_budget
from ._threads import resolve_n_threads

__all__ = ["InfiniteWidthKernel"]


class InfiniteWidthKernel(InfiniteWidthKernelBase):
    """The infinite-width kernel Θ^(L) (``get="ntk"``) or Σ^(L) (``get="nngp"``).

    Parameters
    ----------
    depth : int >= 1, the number of weight layers L.
    activation : name, ``ntkfast.activations`` object or callable (picklable for other
        processes: built-in names and objects always are, a user's function when importable).
    weight_std, bias_std : σ_w and β of the NTK parametrization.
    get : "ntk" (default) or "nngp": what calling the object returns.
    dtype : numpy.float64 (default) or numpy.float32.
    input_bound : None, or the largest mean square ‖x‖²/n0 of an input row the kernel accepts.
        Numerical (Mehler-series) activations plan their series from the variances they must
        cover: with a bound the plan is fixed once, so blocks computed separately equal the
        one-call Gram bit for bit, and inputs beyond the bound are refused (ValueError). Without
        one each call plans from its own points, as ``ntkfast.ntk`` does. Closed-form
        activations need no plan; a bound given to them is enforced all the same.
        :meth:`planned_for` sets it from data.
    """

    __slots__ = ()

    def _parse(self, x1, x2, n_outputs, threads, layerwise=False, need_ntk=True):
        return parse(x1, x2, self.depth, self.activation, self.weight_std, self.bias_std,
                     self.dtype, n_outputs, projector(threads), need_ntk=need_ntk,
                     table_budget=None if layerwise else table_budget, fixed=self._plan)

    def _pair(self, x1, x2, *, want_nngp, want_ntk, layerwise, n_threads) -> dict:
        threads = resolve_n_threads(n_threads)
        n_out = n_output_arrays(self.depth, layerwise) if layerwise else int(want_nngp) + int(want_ntk)
        call = self._parse(x1, x2, n_out, threads, layerwise, need_ntk=want_ntk or layerwise)
        return run(call, want_nngp=want_nngp, want_ntk=want_ntk, layerwise=layerwise, threads=threads)

    def _result(self, x1, x2, layerwise, n_threads) -> KernelResult:
        threads = resolve_n_threads(n_threads)
        call = self._parse(x1, x2, n_output_arrays(self.depth, layerwise), threads, layerwise)
        out = run(call, want_nngp=True, want_ntk=True, layerwise=layerwise, threads=threads)
        return make_result(out, call, layerwise)

    def _diagonal(self, x, n_threads) -> np.ndarray:
        want_ntk = self.get == "ntk"
        prep, dt = parse_diag(x, self.depth, self.activation, self.weight_std, self.bias_std,
                              self.dtype, projector(resolve_n_threads(n_threads)),
                              need_ntk=want_ntk, fixed=self._plan)
        t = prep.last[0]
        return (t.theta if want_ntk else t.sigma)[-1].astype(dt)

    def _value_and_gradient(self, call, n_threads):
        from ._kernel_gradients import value_and_gradient
        return value_and_gradient(call, self.get, resolve_n_threads(n_threads))

    # --- matrix-free products (ntkfast._kernel_operator; scipy is imported on first use) -------
    def operator(self, x, *, ridge=0.0, n_threads=None):
        """K(x, x) + ridge·I as a ``scipy.sparse.linalg.LinearOperator`` that never stores the
        N×N matrix: tiles are computed on the fly and multiplied while hot in cache, each
        off-diagonal tile used twice. Its matrix is exactly ``self(x)`` (+ ridge·I); products are
        bit-identical for any thread count. Memory O(N·(d + k)) plus per-point tables."""
        from ._kernel_operator import KernelOperator
        call = self._parse(x, None, 0, resolve_n_threads(n_threads), layerwise=True,
                           need_ntk=self.get == "ntk")
        return KernelOperator(call, ridge=ridge, get=self.get, n_threads=n_threads)

    def apply(self, x_test, x, v, *, n_threads=None) -> np.ndarray:
        """K(x_test, x) @ v without storing K(x_test, x) (row blocks of x_test): prediction.
        Numerical activations: give the kernel an input_bound covering both sets, else this
        product plans its series from x_test and x together."""
        from ._kernel_operator import apply_cross
        call = self._parse(x_test, x, 0, resolve_n_threads(n_threads), layerwise=True,
                           need_ntk=self.get == "ntk")
        return apply_cross(call, v, get=self.get, n_threads=n_threads)

