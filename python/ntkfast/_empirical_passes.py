"""How the fast empirical NTK (ntk-math.md §3) feeds the C++ core: the per-layer features of
blocks of rows (forward and backward passes), then the Gram tiles or the per-point diagonal from
them, in row blocks when the features of all inputs do not fit in ``memory_budget`` (any N;
features of the current row block are kept, column blocks are recomputed).

Every product in there (the passes' W·a and δ·W, the Gram's a·a' and δ·δ') is computed per entry
in a fixed order by the core's own kernel (src/cpp/ntkfast/row_dots.hpp), so an entry depends on
its two points only: row blocks, slices and thread counts never change a bit of the result. A
network whose activation is a Python function runs its passes in numpy around the same products.
"""
from __future__ import annotations

import numpy as np

from . import _core
from . import _validation as V
from ._mlp import CheckedNet
from ._numpy_mlp import features as _numpy_features

# Working-set cap for the per-layer features when memory_budget=None: at most this, and at most a
# quarter of the memory available at the time of the call.
DEFAULT_MEMORY_BUDGET = 4 << 30


def compiled_kind(cn: CheckedNet) -> tuple[str, float, float] | None:
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


class Features:
    """a^(l) for l < L (act[0] is the input) and δ^(l) for l < L-1 of one block of rows."""

    def __init__(self, act: list, delta: list):
        self.act, self.delta = act, delta


def row_floats(cn: CheckedNet, backward: bool) -> int:
    """Feature floats stored per input row (the input itself is not copied)."""
    n, n_out = cn.widths, cn.widths[-1]
    hidden = sum(n[1:-1])
    return hidden + (n_out * hidden if backward else 0)


def core_matmul(threads: int):
    """``a @ w.T`` (rows) or ``a @ w`` by the core's fixed-order products, for the numpy passes:
    numpy's matmul (BLAS) makes an entry depend on where its row sits in the call."""
    def matmul(a: np.ndarray, w: np.ndarray, rows: bool) -> np.ndarray:
        a2 = np.ascontiguousarray(a.reshape(-1, a.shape[-1]))
        w = np.ascontiguousarray(w, dtype=a2.dtype)
        out = np.empty((a2.shape[0], w.shape[0] if rows else w.shape[1]), a2.dtype)
        _core.row_products(a2, w, rows, 1.0, None, out, threads)
        return out.reshape(a.shape[:-1] + out.shape[-1:])
    return matmul


def features(cn: CheckedNet, x: np.ndarray, threads: int, backward: bool = True,
             output: np.ndarray | None = None) -> Features:
    L, n, n_out, dt = cn.depth, cn.widths, cn.widths[-1], cn.dtype
    kind = compiled_kind(cn)
    if kind is None:  # a Python callable: numpy forward/backward in the working dtype
        A, D, f = _numpy_features(cn, x, dtype=dt, backward=backward, matmul=core_matmul(threads))
        if output is not None:
            output[...] = f
        return Features([np.ascontiguousarray(a) for a in A],
                        [np.ascontiguousarray(d) for d in D] if backward else [])
    rows = x.shape[0]
    hidden = [np.empty((rows, n[l]), dt) for l in range(1, L)]
    delta = [np.empty((rows, n_out, n[l + 1]), dt) for l in range(L - 1)] if backward else []
    _core.mlp_features(list(cn.weights), list(cn.biases), list(cn.weight_scales), cn.bias_scale,
                       kind[0], kind[1], kind[2], x, hidden, delta, output, threads)
    return Features([x] + hidden, delta)


def outputs(cn: CheckedNet, x: np.ndarray, threads: int) -> np.ndarray:
    """f(x), (N, n_L), in the network's dtype (no hidden features kept)."""
    out = np.empty((x.shape[0], cn.widths[-1]), cn.dtype)
    kind = compiled_kind(cn)
    if kind is None:
        out[...] = _numpy_features(cn, x, dtype=cn.dtype, backward=False, matmul=core_matmul(threads))[2]
    else:
        _core.mlp_features(list(cn.weights), list(cn.biases), list(cn.weight_scales),
                           cn.bias_scale, kind[0], kind[1], kind[2], x, [], [], out, threads)
    return out


def block_rows(n_rows_total: int, row_bytes: int, memory_budget, output_bytes: int) -> int:
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


class Kernel:
    """What the core needs of one empirical kernel: a featurizer and the layer structure. The
    NTK uses every layer's a and δ; the NNGP is the last weight layer's term alone (a one-layer,
    one-output Gram of the last hidden features)."""

    def __init__(self, cn: CheckedNet, nngp: bool, threads: int):
        self.cn = cn
        if nngp:
            self.widths, self.scales = [cn.widths[-2], 1], [cn.weight_scales[-1]]
            self.row_bytes = row_floats(cn, False) * cn.dtype.itemsize
            self.featurize = lambda x: Features([features(cn, x, threads, backward=False).act[-1]], [])
        else:
            self.widths, self.scales = list(cn.widths), list(cn.weight_scales)
            self.row_bytes = row_floats(cn, True) * cn.dtype.itemsize
            self.featurize = lambda x: features(cn, x, threads)


def gram_blocks(k: Kernel, x1, x2, mode: str, out, layers, threads: int, memory_budget) -> None:
    """Fill out (and layers) from the features of row blocks; symmetric when x2 is None."""
    symmetric = x2 is None
    xs2 = x1 if symmetric else x2
    total = x1.shape[0] + (0 if symmetric else xs2.shape[0])
    size = block_rows(total, k.row_bytes, memory_budget,
                      out.nbytes + (layers.nbytes if layers is not None else 0))

    def run(f1: Features, f2: Features, i0: int, j0: int, same: bool):
        _core.empirical_gram(k.widths, k.scales, k.cn.bias_scale, mode, f1.act, f1.delta, f2.act,
                             f2.delta, out, layers, i0, j0, same, symmetric, threads)

    if size >= total:  # everything at once
        f1 = k.featurize(x1)
        run(f1, f1 if symmetric else k.featurize(xs2), 0, 0, symmetric)
        return
    for i0, i1 in _blocks(x1.shape[0], size):
        f1 = k.featurize(x1[i0:i1])
        for j0, j1 in _blocks(xs2.shape[0], size):
            if symmetric and j0 < i0:
                continue
            same = symmetric and j0 == i0
            run(f1, f1 if same else k.featurize(xs2[j0:j1]), i0, j0, same)


def diagonal_blocks(k: Kernel, x, mode: str, out, threads: int, memory_budget) -> None:
    """K(x_i, x_i) into out (N, ...): the diagonal entries of gram_blocks' symmetric Gram, by the
    same tile code, from the features of row blocks (one block at a time)."""
    # block_rows sizes two blocks; the diagonal holds one, so it may take twice the rows
    size = 2 * block_rows(x.shape[0], k.row_bytes, memory_budget, out.nbytes)
    for i0, i1 in _blocks(x.shape[0], size):
        f = k.featurize(x[i0:i1])
        _core.empirical_diag(k.widths, k.scales, k.cn.bias_scale, mode, f.act, f.delta, out, None,
                             i0, threads)
