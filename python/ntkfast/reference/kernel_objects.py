"""Reference for :class:`ntkfast.InfiniteWidthKernel`: the same object, its entries computed by
the plain-numpy recursion of ntkfast.reference.kernels (one vectorised pass per layer)."""
from __future__ import annotations

import numpy as np

from .._kernel_args import KernelResult, make_result, n_output_arrays, parse, parse_diag
from .._kernel_object import InfiniteWidthKernelBase
from .._thread_args import check_unused_n_threads
from .kernels import _compute

__all__ = ["InfiniteWidthKernel"]


class InfiniteWidthKernel(InfiniteWidthKernelBase):
    """Reference for :class:`ntkfast.InfiniteWidthKernel` (``n_threads`` validated, unused)."""

    __slots__ = ()

    def _parse(self, x1, x2, n_outputs, need_ntk=True):
        # 4 more (N1, N2) arrays: the numpy recursion's temporaries
        return parse(x1, x2, self.depth, self.activation, self.weight_std, self.bias_std,
                     self.dtype, n_outputs + 4, need_ntk=need_ntk, fixed=self._plan)

    def _pair(self, x1, x2, *, want_nngp, want_ntk, layerwise, n_threads) -> dict:
        check_unused_n_threads(n_threads)
        call = self._parse(x1, x2, n_output_arrays(self.depth, layerwise), need_ntk=want_ntk or layerwise)
        # Θ is computed alongside and may overflow unchecked when only the NNGP is wanted
        with np.errstate(over="ignore", invalid="ignore"):
            return _compute(call, layerwise)

    def _result(self, x1, x2, layerwise, n_threads) -> KernelResult:
        check_unused_n_threads(n_threads)
        call = self._parse(x1, x2, n_output_arrays(self.depth, layerwise))
        return make_result(_compute(call, layerwise), call, layerwise)

    def _diagonal(self, x, n_threads) -> np.ndarray:
        check_unused_n_threads(n_threads)
        want_ntk = self.get == "ntk"
        prep, dt = parse_diag(x, self.depth, self.activation, self.weight_std, self.bias_std,
                              self.dtype, need_ntk=want_ntk, fixed=self._plan)
        t = prep.last[0]
        return (t.theta if want_ntk else t.sigma)[-1].astype(dt)

    def _value_and_gradient(self, call, n_threads):
        check_unused_n_threads(n_threads)
        from .gradients import value_and_gradient
        return value_and_gradient(call, self.get)
