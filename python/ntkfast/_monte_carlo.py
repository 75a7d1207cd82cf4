"""Monte Carlo estimates of the infinite-width NNGP and NTK: the mean of the empirical kernels of
n random networks of hidden width n_h (what neural-tangents' ``monte_carlo_kernel_fn`` does), with
per-entry standard errors, in row blocks sized to a memory budget. Driven by ntkfast.random_functions
(compiled EmpiricalKernel) and its numpy twin (the reference EmpiricalKernel): one loop, two kernels.

One ``per_layer`` call per network and block gives both kernels: the last layer's term of the
empirical NTK is [σ_w² a^(L−1)·a^(L−1)′/n + β²]·(δ_k·δ_k′) with δ^(L−1)_k = e_k, i.e. the
empirical NNGP, and their sum is the NTK. Means and standard errors are accumulated by Welford's
update (no catastrophic cancellation of E[K²] − E[K]²). Networks are drawn from seeds spawned
once, so every row block sees the same n networks.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _validation as V

# Per entry of a block: two means, two sums of squared deviations, the per-layer terms (depth)
# and two temporaries, all float64.
_ARRAYS_PER_ENTRY = 4 + 2


class MonteCarloKernels(NamedTuple):
    """``nngp``, ``ntk`` (N1, N2): the means over networks of the empirical kernels (output
    "trace": the mean over the n_L outputs), estimates of ``ntkfast.nngp`` and ``ntkfast.ntk``;
    ``nngp_se``, ``ntk_se``: their per-entry standard errors, std/√n (std with n − 1);
    ``n_networks``, ``width`` (the hidden width; 0 at depth 1, which has no hidden layer)."""
    nngp: np.ndarray
    ntk: np.ndarray
    nngp_se: np.ndarray
    ntk_se: np.ndarray
    n_networks: int
    width: int


def rows_per_block(n_cols: int, depth: int, budget: int) -> int:
    """Rows of x1 per block: half the budget holds the block's arrays, the other half is the
    EmpiricalKernel's for the networks' features."""
    per_row = n_cols * 8 * (_ARRAYS_PER_ENTRY + depth)
    rows = (budget // 2) // per_row
    if rows < 1:
        raise ValueError(f"memory_budget: {budget} bytes cannot hold one row of the estimate "
                         f"(half the budget for {per_row} bytes: {n_cols} columns × "
                         f"{_ARRAYS_PER_ENTRY + depth} float64 arrays for depth {depth}, the other "
                         f"half for the networks' features); give at least {2 * per_row}")
    return int(rows)


def estimate(x1, x2, widths, n_networks, seeds, budget, make_net, make_kernel, n_threads):
    """The estimate, networks made by ``make_net(widths, seed)`` and kernels by
    ``make_kernel(net, memory_budget)`` (an EmpiricalKernel class)."""
    a = x1
    b = x1 if x2 is None else x2
    n1, n2 = a.shape[0], b.shape[0]
    depth = len(widths) - 1
    V.check_output_fits(4 * n1 * n2 * 8, f"Monte Carlo kernels of shape ({n1}, {n2})")
    rows = rows_per_block(n2, depth, budget)
    out = {k: np.zeros((n1, n2)) for k in ("nngp", "ntk", "nngp_m2", "ntk_m2")}
    for start in range(0, n1, rows):
        stop = min(n1, start + rows)
        mean = {"nngp": out["nngp"][start:stop], "ntk": out["ntk"][start:stop]}
        m2 = {"nngp": out["nngp_m2"][start:stop], "ntk": out["ntk_m2"][start:stop]}
        for i, seed in enumerate(seeds):
            kernel = make_kernel(make_net(widths, seed), budget - budget // 2)
            terms = kernel.per_layer(a[start:stop], b, n_threads=n_threads).per_layer
            values = {"nngp": np.asarray(terms[-1], np.float64),
                      "ntk": np.sum(terms, axis=0, dtype=np.float64)}
            for key, v in values.items():
                delta = v - mean[key]
                mean[key] += delta / (i + 1)
                m2[key] += delta * (v - mean[key])
    if x2 is None:  # blocks are cross kernels, equal to their mirror up to rounding only
        for key in ("nngp", "ntk", "nngp_m2", "ntk_m2"):
            out[key] = 0.5 * (out[key] + out[key].T)
    se = {k: np.sqrt(out[f"{k}_m2"] / ((n_networks - 1) * n_networks)) for k in ("nngp", "ntk")}
    return MonteCarloKernels(out["nngp"], out["ntk"], se["nngp"], se["ntk"], n_networks,
                             widths[1] if depth > 1 else 0)
