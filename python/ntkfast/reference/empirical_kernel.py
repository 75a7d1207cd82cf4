"""Reference for :class:`ntkfast.EmpiricalKernel`: the same object, its entries computed by the
plain-numpy layer terms of ntkfast.reference.empirical (float64 throughout, full arrays)."""
from __future__ import annotations

import numpy as np

from .._empirical_args import parse_checked
from .._empirical_object import EmpiricalKernelBase
from .._thread_args import check_unused_n_threads
from .empirical import diagonal_of, nngp_of, ntk_of

__all__ = ["EmpiricalKernel"]


class EmpiricalKernel(EmpiricalKernelBase):
    """Reference for :class:`ntkfast.EmpiricalKernel` (``n_threads`` validated, unused; so is
    ``memory_budget``, at construction)."""

    __slots__ = ()

    def _pair(self, x1, x2, *, per_layer, n_threads):
        check_unused_n_threads(n_threads)
        call = parse_checked(self._cn, x1, x2, self.output, per_layer)
        if self.get == "nngp":
            return nngp_of(call), None
        return ntk_of(call, per_layer)

    def _diagonal(self, x, n_threads) -> np.ndarray:
        check_unused_n_threads(n_threads)
        return diagonal_of(self._cn, self._points(x, "x"), self.output, self.get == "nngp")
