"""K(X, C), the kernel between the N training points and the M Nyström centers, one pass at a time.

A pass visits the rows in blocks whose size is fixed by M alone (product blocks of ``rows`` rows
for the CG products, larger factor blocks for ΦᵀΦ), always in the same order; every sum over the
training points (K(C, X) K(X, C) v, K(C, X) y, ΦᵀΦ) is formed in two levels, whatever the kernel
calls were: block by block in row order within a chunk of ``chunk_rows(M)`` rows (the *part* of
that chunk: ``normal_part``, ``transpose_part``, ``factor_part``), then the parts of the chunks
in chunk order (``add_in_order``). ntkfast.dask runs the same part functions as one task per
chunk on the workers and adds the returned M-sized parts on the client in the same order, so the
local and the distributed solver agree bit for bit, however the tasks were scheduled. K(X, C) is kept (in the kernel's dtype, filled during the first
pass) when N·M·itemsize fits the memory budget, and recomputed by every pass otherwise, in kernel
calls of whole product blocks (as many as the budget allows, at most CALL_BYTES). Kernel
blocks from row slices equal the one-call kernel bit for bit, so both paths give the same bits:
the budget changes the memory and the time, never the answer. Memory beyond the inputs stays
O(one kernel call + M²) when recomputing.

OpenBLAS may split a product differently for another number of its own threads (measured: the
K_bᵀ u of a tall block and some (B, M) @ (M, O) products change in the last bits between
OPENBLAS_NUM_THREADS=1 and 2); the kernel calls are bit-identical for any ``n_threads``. So results
are bit-identical for any ``n_threads`` and any memory budget, and agree to rounding across BLAS
thread counts.
"""
from __future__ import annotations

import itertools
from typing import Callable, Iterable, Iterator, Optional

import numpy as np

from ._validation import available_memory_bytes

# A product block holds about this many bytes of float64 kernel values: K_b v, then K_bᵀ u reads
# the block again, from cache at this size; smaller blocks pay numpy's per-call overhead.
PRODUCT_BYTES = 1 << 20
# A kernel call when K(X, C) is recomputed: small enough that its output is still in the last
# level cache when the products read it (a 128 MB call made a pass with products measurably
# slower than the kernel calls alone; 32 MB did not), large enough that the per-call work on the
# M centers (about 0.6 ms at M = 2000) stays within a few percent.
CALL_BYTES = 32 << 20
# Blocks of the one-pass factorisation (ΦᵀΦ): a triangular solve and a rank-k update per block
# read all of T and ΦᵀΦ (M² each), so they want many rows at a time.
FACTOR_BYTES = 16 << 20
# Factor blocks per chunk, the unit of the two-level sums (about 64 MB of float64 kernel values):
# a Dask task per chunk then computes for long enough (~0.1 s per thread at M = 2000) that the
# scheduler's per-task cost (~1 ms) is lost in it, and at N = 1e6 a pass is ~120 tasks.
CHUNK_FACTOR_BLOCKS = 4
# memory_budget=None: at most this, and at most a quarter of the memory available at the call.
DEFAULT_MEMORY_BUDGET = 2 << 30


def product_rows(m: int) -> int:
    """Rows per product block for M centers: a function of M alone, so that every pass over the
    training points sums in the same blocks whatever the memory budget."""
    return max(1, PRODUCT_BYTES // (8 * m))


def factor_rows(m: int) -> int:
    """Rows per block of the one-pass factorisation: a multiple of product_rows, M alone."""
    r = product_rows(m)
    return r * max(1, FACTOR_BYTES // (8 * m * r))


def chunk_rows(m: int) -> int:
    """Rows per chunk of the two-level sums: a multiple of factor_rows (so of product_rows), M
    alone."""
    return factor_rows(m) * CHUNK_FACTOR_BLOCKS


Blocks = Iterable[tuple[int, int, np.ndarray]]  # (start, stop, float64 K(x[start:stop], C))


def normal_part(blocks: Blocks, v: np.ndarray) -> np.ndarray:
    """Σ_b K_bᵀ (K_b v) over the blocks, in their order: (M, O)."""
    out = np.zeros(v.shape)
    for _, _, kb in blocks:
        out += kb.T @ (kb @ v)
    return out


def transpose_part(blocks: Blocks, u: np.ndarray, base: int = 0) -> np.ndarray:
    """Σ_b K_bᵀ u_b over the blocks, u holding the rows from ``base`` on: (M, O)."""
    out = None
    for start, stop, kb in blocks:
        if out is None:
            out = np.zeros((kb.shape[1], u.shape[1]))
        out += kb.T @ u[start - base:stop - base]
    return out


def factor_part(blocks: Blocks, t_factor: np.ndarray, y: Optional[np.ndarray] = None,
                base: int = 0) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Σ_b Φ_bᵀΦ_b (upper triangle, Fortran order) and Σ_b Φ_bᵀ y_b (None without y),
    Φ_b = K_b T⁻¹, over the blocks; y holds the rows from ``base`` on."""
    from scipy import linalg as sla  # the local solvers import scipy anyway; keeps this module light
    from scipy.linalg import blas

    m = t_factor.shape[0]
    gram = np.zeros((m, m), order="F")  # dsyrk accumulates into its upper triangle in place
    phi_y = None if y is None else np.zeros((m, y.shape[1]))
    for start, stop, kb in blocks:
        phi_t = sla.solve_triangular(t_factor, kb.T, trans="T", check_finite=False)  # (K_b T⁻¹)ᵀ
        gram = blas.dsyrk(1.0, phi_t, beta=1.0, c=gram, overwrite_c=True)
        if y is not None:
            phi_y += phi_t @ y[start - base:stop - base]
    return gram, phi_y


def add_in_order(total, part):
    """total + part (arrays, or tuples of arrays / None), the chunks' parts added one by one in
    chunk order from zeros: the one summation order of every pass, local or distributed."""
    if isinstance(part, tuple):
        total = (None,) * len(part) if total is None else total
        return tuple(add_in_order(t, p) for t, p in zip(total, part))
    if part is None:
        return None
    if total is None:
        total = np.zeros_like(part)  # keeps a Fortran-ordered ΦᵀΦ Fortran-ordered
    total += part
    return total


def value_blocks(k: np.ndarray, size: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """The blocks of ``size`` rows of kernel values k (one chunk's K(x_chunk, C)), as float64,
    with starts relative to the chunk: what KernelRows.blocks yields for them."""
    for start in range(0, k.shape[0], size):
        stop = min(start + size, k.shape[0])
        yield start, stop, k[start:stop].astype(np.float64, copy=False)


def bytes_per_row(m: int, dtype: np.dtype) -> int:
    """One row of K(X, C) as the kernel returns it, plus its float64 copy when that is float32."""
    itemsize = np.dtype(dtype).itemsize
    return m * (itemsize + (8 if itemsize != 8 else 0))


def resolve_budget(memory_budget: Optional[int]) -> int:
    if memory_budget is not None:
        return memory_budget
    return int(min(DEFAULT_MEMORY_BUDGET, available_memory_bytes() // 4))


def checked_block(k, shape: tuple, what: str, finite: bool = False) -> np.ndarray:
    """A user kernel's block as an array, refused (naming the call ``what``) if its shape is not
    ``shape`` or, with ``finite``, if it holds NaN or inf."""
    k = np.asarray(k)
    if k.shape != shape:
        raise ValueError(f"kernel: returned shape {k.shape} for {what}, expected {shape}")
    if finite and not np.isfinite(k).all():
        raise ValueError(f"kernel: {what} has NaN or infinite entries")
    return k


class KernelRows:
    """K(X, C) pass by pass. ``blocks()`` yields (start, stop, K_b as float64) per product block;
    ``passes`` counts the passes, ``computed_passes`` those that called the kernel."""

    def __init__(self, kernel, x: np.ndarray, centers: np.ndarray, *, memory_budget: Optional[int],
                 n_threads: Optional[int]):
        self.kernel, self.x, self.centers, self.n_threads = kernel, x, centers, n_threads
        self.dtype = np.dtype(getattr(kernel, "dtype", np.float64))
        n, m = x.shape[0], centers.shape[0]
        self.n, self.m = n, m
        self.rows = min(n, product_rows(m))
        budget = resolve_budget(memory_budget)
        per_row = bytes_per_row(m, self.dtype)
        need = self.rows * per_row
        if budget < need:
            raise ValueError(
                f"memory_budget: {budget} bytes is too small for one row block of K(X, C) "
                f"({self.rows} rows x {m} centers = {need} bytes); give at least {need} bytes")
        self.keep = n * m * self.dtype.itemsize <= budget
        self.budget = budget
        # A recomputing kernel call covers whole product blocks, as many as the budget allows.
        per_call = max(1, min(budget, max(CALL_BYTES, need)) // need)
        self.call_rows = self.rows * per_call
        self._cache = np.empty((n, m), dtype=self.dtype) if self.keep else None
        self._filled = 0  # rows of the cache already written (a pass interrupted leaves it valid)
        self.passes = 0
        self.computed_passes = 0

    def _call(self, start: int, stop: int) -> np.ndarray:
        k = self.kernel(self.x[start:stop], self.centers, n_threads=self.n_threads)
        return checked_block(k, (stop - start, self.m), f"K(x[{start}:{stop}], centers)")

    def _calls(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """One pass: (start, stop, K(x[start:stop], C)) per kernel call (the kept matrix: one)."""
        self.passes += 1
        if self.keep and self._filled == self.n:
            yield 0, self.n, self._cache
            return
        self.computed_passes += 1
        for start in range(0, self.n, self.call_rows):
            stop = min(start + self.call_rows, self.n)
            if self.keep and stop <= self._filled:
                yield start, stop, self._cache[start:stop]
                continue
            k = self._call(start, stop)
            if self.keep:
                self._cache[start:stop] = k
                self._filled = stop
            yield start, stop, k

    def blocks(self, size: Optional[int] = None, on_block: Optional[Callable[[int], None]] = None
               ) -> Iterator[tuple[int, int, np.ndarray]]:
        """One pass: (start, stop, float64 K(x[start:stop], C)) for the blocks of ``size`` rows
        (default ``self.rows``) that start at multiples of ``size``, in row order, whatever the
        kernel calls: a block that spans two calls is assembled in a buffer. ``on_block(stop)``
        is called after each block has been used; a yielded buffer is reused after that."""
        size = self.rows if size is None else size
        buf = None
        for call_start, call_stop, k in self._calls():
            pos = call_start
            while pos < call_stop:
                start = pos - pos % size
                stop = min(start + size, self.n)
                if pos == start and stop <= call_stop:  # inside this call: a view
                    block = k[start - call_start:stop - call_start].astype(np.float64, copy=False)
                    pos = stop
                else:
                    if buf is None:
                        buf = np.empty((size, self.m))
                    take = min(stop, call_stop)
                    buf[pos - start:take - start] = k[pos - call_start:take - call_start]
                    pos = take
                    if take < stop:
                        continue
                    block = buf[:stop - start]
                yield start, stop, block
                if on_block is not None:
                    on_block(stop)

    # -- the products every solver needs, each one pass, summed per chunk, then in chunk order --

    def summed(self, part: Callable[[Blocks], object], size: Optional[int] = None,
               on_block: Optional[Callable[[int], None]] = None):
        """add_in_order over the chunks of part(the chunk's blocks of ``size`` rows)."""
        chunk = chunk_rows(self.m)
        total = None
        for _, group in itertools.groupby(self.blocks(size, on_block), key=lambda b: b[0] // chunk):
            total = add_in_order(total, part(group))
        return total

    def normal_apply(self, v: np.ndarray) -> np.ndarray:
        """K(C, X) K(X, C) v for v (M, O)."""
        return self.summed(lambda blocks: normal_part(blocks, v))

    def transpose_apply(self, u: np.ndarray, on_block=None) -> np.ndarray:
        """K(C, X) u for u (N, O)."""
        return self.summed(lambda blocks: transpose_part(blocks, u), on_block=on_block)

    def factor_sums(self, t_factor: np.ndarray, y: Optional[np.ndarray] = None, on_block=None):
        """(ΦᵀΦ upper triangle, Φᵀy or None), Φ = K(X, C) T⁻¹: one pass in factor blocks."""
        return self.summed(lambda blocks: factor_part(blocks, t_factor, y),
                           size=factor_rows(self.m), on_block=on_block)

    def apply(self, v: np.ndarray) -> np.ndarray:
        """K(X, C) v for v (M, O), shape (N, O)."""
        out = np.empty((self.n, v.shape[1]))
        for start, stop, kb in self.blocks():
            np.matmul(kb, v, out=out[start:stop])
        return out
