"""Kernel (ridge) regression at t = ∞ in C++ (src/cpp/ntkfast/cholesky.hpp): the fast path of
kernel_gd_mse when every requested time is infinite. A = K + ridge·I is factored by the blocked
OpenMP Cholesky (bit-identical for any thread count, Ctrl-C between blocks), α = A⁻¹ (y − f_0) by
its solves, f_∞(x*) = f_0(x*) + K(x*, X) α by the streaming kernel product. What it returns and
when it hands over to the eigendecomposition: ntkfast._regression."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _core
from . import _regression as regression
from ._dynamics_args import HeldOut, Targets


class Solved(NamedTuple):
    alpha: np.ndarray                # (N, O): A⁻¹ (y − f_0)
    f_test: np.ndarray | None        # (M, O) at t = ∞, or None without test points


def solve(k: np.ndarray, ridge: float, tg: Targets, f0: np.ndarray, test: HeldOut,
          threads: int) -> Solved | str:
    """α and the test outputs at t = ∞, or the reason (a string) to use the eigendecomposition."""
    n = k.shape[0]
    factor = np.empty((n, n))  # only its lower triangle is ever written (and its pages touched)
    pivot = int(_core.cholesky_factor(k, ridge, factor, threads))
    diag = None if pivot else np.diagonal(factor)
    reason = regression.fallback_reason(pivot, diag, np.diagonal(k) + ridge, n)
    if reason is not None:
        return reason
    with np.errstate(over="ignore", invalid="ignore"):  # y, f0 near float64's limit: see result()
        alpha = np.ascontiguousarray(tg.y - f0)
    _core.cholesky_solve(factor, alpha, threads)
    del factor
    if test.k is None:
        return Solved(alpha, None)
    f_test = np.empty((test.k.shape[0], alpha.shape[1]))
    _core.add_test_product(test.k, alpha, np.ascontiguousarray(test.f0), f_test, threads)
    return Solved(alpha, f_test)
