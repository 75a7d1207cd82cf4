"""Empirical (finite-width) NTK of an MLP by the layerwise identity of ntk-math.md §3, in C++.

    Θ_kk'(x, x') = Σ_l [s_w² a^(l)(x)·a^(l)(x') + s_b²] · [δ^(l)_k(x)·δ^(l)_k'(x')]

No Jacobian is formed: the core runs the forward and backward passes for blocks of inputs, then
per output tile two BLAS-3 products per layer (OpenBLAS, single-threaded inside our OpenMP
tiles), fused with the Hadamard product and the sum over layers. When the features of all inputs
do not fit in ``memory_budget``, rows are processed in blocks (any N; features of the current
row block are kept, column blocks are recomputed).
"""
from __future__ import annotations

import numpy as np

from . import _core
from . import _validation as V
from ._empirical_args import EmpiricalNTK, finite_result as _finite, parse, parse_inputs
from ._mlp import CheckedNet
from ._numpy_mlp import features as _numpy_features
from ._threads import resolve_n_threads

__all__ = ["apply", "empirical_ntk", "empirical_nngp", "EmpiricalNTK", "DEFAULT_MEMORY_BUDGET"]

# Working-set cap for the per-layer features when memory_budget=None: at most this, and at most a
# quarter of the memory available at the time of the call.
DEFAULT_MEMORY_BUDGET = 4 << 30


def _compiled_kind(cn: CheckedNet) -> tuple[str, float, float] | None:
    """(kind, a, b) for the C++ pointwise code, or None for a user's function (numpy path)."""
    act = cn.activation
    if act.dual == "relu_like":
        return "relu_like", act.slopes[0], act.slopes[1]
    if act.dual == "elu":
        return "elu", act.alpha, 0.0
    if act.dual != "mehler":
        return act.dual, 0.0, 0.0
    # Only the built-in objects carry a compiled form; a user's function named "tanh" is theirs.
    return (act.compiled, 0.0, 0.0) if act.compiled else None


class _Features:
    """a^(l) for l < L (act[0] is the input) and δ^(l) for l < L-1 of one block of rows."""

    def __init__(self, act: list, delta: list):
        self.act, self.delta = act, delta


def _row_floats(cn: CheckedNet, backward: bool) -> int:
    """Feature floats stored per input row (the input itself is not copied)."""
    n, n_out = cn.widths, cn.widths[-1]
    hidden = sum(n[1:-1])
    return hidden + (n_out * hidden if backward else 0)


def _features(cn: CheckedNet, x: np.ndarray, threads: int, backward: bool = True,
              output: np.ndarray | None = None) -> _Features:
    L, n, n_out, dt = cn.depth, cn.widths, cn.widths[-1], cn.dtype
    kind = _compiled_kind(cn)
    if kind is None:  # a Python callable: numpy forward/backward in the working dtype
        A, D, f = _numpy_features(cn, x, dtype=dt, backward=backward)
        if output is not None:
            output[...] = f
        return _Features([np.ascontiguousarray(a) for a in A],
                         [np.ascontiguousarray(d) for d in D] if backward else [])
    rows = x.shape[0]
    hidden = [np.empty((rows, n[l]), dt) for l in range(1, L)]
    delta = [np.empty((rows, n_out, n[l + 1]), dt) for l in range(L - 1)] if backward else []
    _core.mlp_features(list(cn.weights), list(cn.biases), list(cn.weight_scales), cn.bias_scale,
                       kind[0], kind[1], kind[2], x, hidden, delta, output, threads)
    return _Features([x] + hidden, delta)


def _block_rows(n_rows_total: int, row_bytes: int, memory_budget, output_bytes: int) -> int:
    """Rows per block so that two blocks of features fit the budget, and the budget fits in the
    memory left beside the output."""
    avail = V.available_memory_bytes() - output_bytes
    budget = V.memory_budget(memory_budget)
    if budget is None:
        budget = int(min(DEFAULT_MEMORY_BUDGET, max(avail, 0) // 4))
    if row_bytes == 0:
        return n_rows_total
    rows = min(n_rows_total, budget // (2 * row_bytes)) if n_rows_total * row_bytes > budget else n_rows_total
    if rows < 1:
        raise ValueError(
            f"memory_budget: {budget} bytes cannot hold the features of two inputs (one row of "
            f"each block; {row_bytes} bytes per input for this network); raise it"
        )
    need = min(n_rows_total, 2 * rows) * row_bytes
    if need > avail:
        raise V.OutputTooLargeError(
            f"memory_budget: the features need {need / 1e9:.3g} GB but only {max(avail, 0) / 1e9:.3g} GB "
            "is left beside the output; lower memory_budget or compute fewer rows at a time"
        )
    return int(rows)


def _blocks(n: int, size: int):
    return [(b, min(n, b + size)) for b in range(0, n, size)]


def apply(net, x, *, n_threads=None) -> np.ndarray:
    """The network's outputs f(x), shape (N, n_L), in the network's dtype."""
    threads = resolve_n_threads(n_threads)
    cn, a = parse_inputs(net, x)
    out = np.empty((a.shape[0], cn.widths[-1]), cn.dtype)
    kind = _compiled_kind(cn)
    if kind is None:
        out[...] = _numpy_features(cn, a, dtype=cn.dtype, backward=False)[2]
    else:
        _core.mlp_features(list(cn.weights), list(cn.biases), list(cn.weight_scales),
                           cn.bias_scale, kind[0], kind[1], kind[2], a, [], [], out, threads)
    return _finite(out, "apply", cn.dtype)


def _gram_blocks(featurize, row_bytes: int, widths: list, scales: list, bias_scale: float,
                 x1, x2, mode: str, out, layers, threads: int, memory_budget):
    """Fill out (and layers) from the features of row blocks; symmetric when x2 is None."""
    symmetric = x2 is None
    xs2 = x1 if symmetric else x2
    total = x1.shape[0] + (0 if symmetric else xs2.shape[0])
    size = _block_rows(total, row_bytes, memory_budget, out.nbytes + (layers.nbytes if layers is not None else 0))

    def run(f1: _Features, f2: _Features, i0: int, j0: int, same: bool):
        _core.empirical_gram(widths, scales, bias_scale, mode, f1.act, f1.delta, f2.act,
                             f2.delta, out, layers, i0, j0, same, symmetric, threads)

    if size >= total:  # everything at once
        f1 = featurize(x1)
        run(f1, f1 if symmetric else featurize(xs2), 0, 0, symmetric)
        return
    for i0, i1 in _blocks(x1.shape[0], size):
        f1 = featurize(x1[i0:i1])
        for j0, j1 in _blocks(xs2.shape[0], size):
            if symmetric and j0 < i0:
                continue
            same = symmetric and j0 == i0
            run(f1, f1 if same else featurize(xs2[j0:j1]), i0, j0, same)


def empirical_ntk(net, x1, x2=None, *, output="trace", per_layer=False, n_threads=None,
                  memory_budget=None):
    """Empirical neural tangent kernel Θ_kk'(x, x') = Σ_p ∂f_k(x)/∂θ_p · ∂f_k'(x')/∂θ_p.

    Parameters
    ----------
    net : ntkfast.MLP. The derivative is taken with respect to its stored arrays (see
        ``ntkfast.networks`` for what that means in each parameterization).
    x1 : array_like (N1, n_0); x2 : array_like (N2, n_0) or None for the symmetric Gram of x1
        (upper triangle computed and mirrored: exactly symmetric).
    output : ``"trace"`` (N1, N2): the mean over outputs of Θ_kk, which converges to
        ``ntkfast.ntk`` in the NTK parameterization; ``"diagonal"`` (N1, N2, n_L): Θ_kk;
        ``"full"`` (N1, N2, n_L, n_L).
    per_layer : also return each weight layer's term: ``EmpiricalNTK(ntk, per_layer)`` with
        ``per_layer`` of shape (L, *ntk.shape).
    n_threads : as in :func:`ntkfast.ntk`; results are identical for any thread count.
    memory_budget : bytes allowed for the per-layer features (default: 4 GiB or a quarter of
        the available memory, whichever is less). Larger inputs are processed in row blocks.

    Computed in the network's dtype (float32 or float64).
    """
    call = parse(net, x1, x2, output, per_layer)
    threads = resolve_n_threads(n_threads)
    cn = call.net
    out = np.empty(call.out_shape, cn.dtype)
    layers = np.empty((cn.depth,) + call.out_shape, cn.dtype) if per_layer else None
    row_bytes = _row_floats(cn, True) * cn.dtype.itemsize
    _gram_blocks(lambda x: _features(cn, x, threads), row_bytes, list(cn.widths),
                 list(cn.weight_scales), cn.bias_scale, call.x1, call.x2, call.output, out,
                 layers, threads, memory_budget)
    _finite(out, "empirical_ntk", cn.dtype)
    return EmpiricalNTK(out, layers) if per_layer else out


def empirical_nngp(net, x1, x2=None, *, n_threads=None, memory_budget=None) -> np.ndarray:
    """s_w² a^(L-1)(x)·a^(L-1)(x') + s_b², shape (N1, N2): the empirical NNGP kernel (the
    covariance of each output given the last hidden features), which converges to
    ``ntkfast.nngp`` in the NTK parameterization."""
    call = parse(net, x1, x2, "trace")
    threads = resolve_n_threads(n_threads)
    cn = call.net
    out = np.empty(call.out_shape, cn.dtype)
    # The last weight layer's term alone: a one-layer, one-output Gram of the last features.
    def last_features(x):
        return _Features([_features(cn, x, threads, backward=False).act[-1]], [])

    row_bytes = _row_floats(cn, False) * cn.dtype.itemsize
    _gram_blocks(last_features, row_bytes, [cn.widths[-2], 1], [cn.weight_scales[-1]],
                 cn.bias_scale, call.x1, call.x2, "trace", out, None, threads, memory_budget)
    return _finite(out, "empirical_nngp", cn.dtype)
