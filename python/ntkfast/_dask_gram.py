"""Grams, cross kernels and diagonals of kernel objects as lazy Dask arrays, one task per block.

The graph, for x with row chunks c_0 .. c_{n-1} (offsets o_i):

- one ``checked_chunk`` task per chunk of x (shape as promised, values finite);
- the kernel object as one key, so it is sent to each worker once, not with every task;
- symmetric Gram: for i <= j, block (i, j) = ``kernel.tile(x_i, x_j, offsets=(o_i, o_j))``, the
  one-call Gram's block bit for bit (diagonal blocks are square and centred on the diagonal:
  one symmetric call each); for i > j, block (i, j) is the transpose of block (j, i), a task
  that depends on it, never a second kernel evaluation. Chunks are square: the row chunks of x
  on both axes.
- cross kernel K(x, x2): block (i, j) = ``kernel.tile(x_i, x2_j)``, rows by x's chunks and
  columns by x2's;
- diagonal: chunk i = ``kernel.diag(x_i)``.

Trailing axes of an empirical kernel's entries (output="diagonal" or "full") are single chunks.
"""
from __future__ import annotations

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from . import _dask_checks as C
from ._kernel_tiles import mirrored


# --- the tasks (module level: workers import them by name) ---------------------------------------

def symmetric_block(kernel, x_rows, x_cols, offsets, n_threads):
    return kernel.tile(x_rows, x_cols, offsets=offsets, n_threads=n_threads)


def mirrored_block(block, n_threads):
    """Block (i, j) below the diagonal from block (j, i) above it: entries (and an empirical
    kernel's output axes) swapped, as the one-call Gram mirrors its upper triangle."""
    return mirrored(block, n_threads)


def cross_block(kernel, x_rows, x_cols, n_threads):
    return kernel.tile(x_rows, x_cols, n_threads=n_threads)


def diagonal_chunk(kernel, x_rows, n_threads):
    return kernel.diag(x_rows, n_threads=n_threads)


# --- the graphs ------------------------------------------------------------------------------------

def gram(kernel, x, x2=None, *, chunks=None, n_threads=None) -> da.Array:
    """K(x) (x2=None: symmetric, upper blocks computed, lower ones their transposes) or K(x, x2)."""
    token = C.kernel_token(kernel)
    threads = C.task_threads(n_threads)
    rows = C.chunk_rows(chunks)
    x = C.row_chunked(x, "x", rows, default=C.default_rows(kernel))
    C.kernel_features(kernel, x, "x")
    if x2 is None:
        return _symmetric(kernel, token, x, threads)
    x2 = C.row_chunked(x2, "x2", rows, default=C.default_rows(kernel), n_features=x.shape[1])
    return _cross(kernel, token, x, x2, threads)


def diag(kernel, x, *, chunks=None, n_threads=None) -> da.Array:
    """K(x_i, x_i) per row, chunked like x's rows."""
    token = C.kernel_token(kernel)
    threads = C.task_threads(n_threads)
    rows = C.chunk_rows(chunks)
    x = C.row_chunked(x, "x", rows, default=C.default_rows(kernel))
    C.kernel_features(kernel, x, "x")
    name = f"ntkfast-diag-{tokenize(token, x.name, threads)}"
    kkey, layer = _kernel_layer(kernel, token)
    xc = C.checked(x, "x")
    tail = (0,) * len(kernel.output_shape)
    for i in range(len(x.chunks[0])):
        layer[(name, i) + tail] = (diagonal_chunk, kkey, (xc.name, i, 0), threads)
    return _array(kernel, name, layer, [xc], (x.chunks[0],))


def _kernel_layer(kernel, token: str):
    kkey = f"ntkfast-kernel-{token}"
    return kkey, {kkey: kernel}


def _symmetric(kernel, token, x, threads) -> da.Array:
    name = f"ntkfast-gram-{tokenize(token, x.name, threads)}"
    kkey, layer = _kernel_layer(kernel, token)
    xc = C.checked(x, "x")
    offsets = C.starts(x.chunks[0])
    n = len(x.chunks[0])
    tail = (0,) * len(kernel.output_shape)
    for i in range(n):
        for j in range(n):
            if i <= j:
                layer[(name, i, j) + tail] = (symmetric_block, kkey, (xc.name, i, 0),
                                              (xc.name, j, 0), (offsets[i], offsets[j]), threads)
            else:
                layer[(name, i, j) + tail] = (mirrored_block, (name, j, i) + tail, threads)
    return _array(kernel, name, layer, [xc], (x.chunks[0], x.chunks[0]))


def _cross(kernel, token, x, x2, threads) -> da.Array:
    name = f"ntkfast-cross-{tokenize(token, x.name, x2.name, threads)}"
    kkey, layer = _kernel_layer(kernel, token)
    rows, cols = C.checked(x, "x"), C.checked(x2, "x2")
    tail = (0,) * len(kernel.output_shape)
    for i in range(len(x.chunks[0])):
        for j in range(len(x2.chunks[0])):
            layer[(name, i, j) + tail] = (cross_block, kkey, (rows.name, i, 0), (cols.name, j, 0),
                                          threads)
    return _array(kernel, name, layer, [rows, cols], (x.chunks[0], x2.chunks[0]))


def _array(kernel, name, layer, inputs, chunks) -> da.Array:
    chunks = tuple(chunks) + tuple((s,) for s in kernel.output_shape)
    graph = HighLevelGraph.from_collections(name, layer, dependencies=inputs)
    dtype = np.dtype(kernel.dtype)
    return da.Array(graph, name, chunks, dtype=dtype, meta=np.empty((0,) * len(chunks), dtype))
