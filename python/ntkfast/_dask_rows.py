"""K(X, C) pass by pass on Dask: the ``rows`` of ntkfast._nystrom_fit when X lives on workers.

X (float64, checked) is persisted in chunks of ``_nystrom_blocks.chunk_rows(M)`` rows, the chunks
of the local solver's two-level sums. Each pass is one task per chunk running the local solver's
part function (``normal_part``, ``transpose_part``, ``factor_part``) on that chunk's blocks,
which returns an M-sized part (M × O, or M × M for ΦᵀΦ); the client adds the parts in chunk
order (``add_in_order``) as they arrive. So the sums are the local solver's, bit for bit, and do
not depend on where or when the tasks ran. K(X, C) itself never leaves the workers: it is kept
there, chunk by chunk, when N·M·itemsize fits ``memory_budget``, and recomputed by every pass
otherwise. The kernel object, the centers and each pass's M-sized operand are single keys, sent
to each worker once.
"""
from __future__ import annotations

import dask
import numpy as np
from dask.base import tokenize

from . import _nystrom_blocks as B
from ._dask_checks import aligned
from ._dask_scheduler import current_client

# Parts of ΦᵀΦ (M × M each) computed at once on the local schedulers: bounds the client's memory.
FACTOR_BATCH = 8


# --- the tasks (module level: workers import them by name) ---------------------------------------

def kernel_chunk(kernel, x_chunk, centers, n_threads):
    return np.asarray(kernel(aligned(x_chunk), aligned(centers), n_threads=n_threads))


def _blocks(kernel, source, centers, size, n_threads, kept):
    """The chunk's blocks of ``size`` rows, from its kept K(x_chunk, C) or recomputed (kernel
    calls of at most CALL_BYTES, as the local solver's)."""
    source, centers = aligned(source), aligned(centers)
    if kept:
        return B.value_blocks(source, size)
    rows = B.KernelRows(kernel, source, centers, n_threads=n_threads,
                        memory_budget=max(B.CALL_BYTES, size * B.bytes_per_row(centers.shape[0], kernel.dtype)))
    return rows.blocks(size)


def normal_task(kernel, source, centers, v, size, n_threads, kept):
    return B.normal_part(_blocks(kernel, source, centers, size, n_threads, kept), aligned(v))


def transpose_task(kernel, source, centers, u, size, n_threads, kept):
    return B.transpose_part(_blocks(kernel, source, centers, size, n_threads, kept), aligned(u))


def factor_task(kernel, source, centers, t_factor, y, size, n_threads, kept):
    return B.factor_part(_blocks(kernel, source, centers, size, n_threads, kept),
                         aligned(t_factor), aligned(y))


# --- the client side ---------------------------------------------------------------------------

class DaskKernelRows:
    """The passes over K(X, C) for X persisted on the workers (see the module docstring)."""

    def __init__(self, kernel, token: str, x, centers: np.ndarray, *, memory_budget, n_threads: int):
        self.n, self.m = x.shape[0], centers.shape[0]
        self.chunks = x.chunks[0]
        self.size, self.factor_size = B.product_rows(self.m), B.factor_rows(self.m)
        self.n_threads = n_threads
        self.passes = 0
        self._kernel, self._centers = dask.persist(
            dask.delayed(kernel, name=f"ntkfast-kernel-{token}"),
            dask.delayed(centers, name=f"ntkfast-centers-{tokenize(centers)}"))
        itemsize = np.dtype(kernel.dtype).itemsize
        self.keep = self.n * self.m * itemsize <= B.resolve_budget(memory_budget)
        chunks = x.to_delayed().ravel().tolist()
        if self.keep:
            task = dask.delayed(kernel_chunk, pure=True)
            chunks = list(dask.persist(*[task(self._kernel, c, self._centers, n_threads) for c in chunks]))
        self._sources = chunks

    def _shared(self, value, what: str):
        """A pass's operand as one key (persisted: on a cluster, sent to each worker once)."""
        return dask.persist(dask.delayed(value, name=f"ntkfast-{what}-{tokenize(value)}"))[0]

    def _pass(self, task, *operands, size=None, batch=None, on_chunk=None, per_chunk=()):
        """add_in_order over the chunks of task(kernel, source, centers, *operands[, its entry of
        each per_chunk list], size, threads, kept)."""
        self.passes += 1
        call = dask.delayed(task, pure=True)
        size = self.size if size is None else size
        parts = [call(self._kernel, src, self._centers, *operands, *[p[i] for p in per_chunk],
                      size, self.n_threads, self.keep)
                 for i, src in enumerate(self._sources)]
        total = None
        done = 0
        for i, part in enumerate(_in_order(parts, batch)):
            total = B.add_in_order(total, part)
            done += self.chunks[i]
            if on_chunk is not None:
                on_chunk(done)
        return total

    def normal_apply(self, v: np.ndarray) -> np.ndarray:
        return self._pass(normal_task, self._shared(v, "v"))

    def transpose_apply(self, u) -> np.ndarray:
        return self._pass(transpose_task, per_chunk=[_row_chunks(u)])

    def factor_sums(self, t_factor: np.ndarray, y=None, on_block=None):
        per_chunk = [[None] * len(self.chunks) if y is None else _row_chunks(y)]
        return self._pass(factor_task, self._shared(t_factor, "t"), size=self.factor_size,
                          batch=FACTOR_BATCH, on_chunk=on_block, per_chunk=per_chunk)


def _row_chunks(u) -> list:
    return u.to_delayed().ravel().tolist()


def _in_order(parts, batch):
    """The results of ``parts`` in order, gathered in batches (all at once without ``batch``):
    on a distributed client all are submitted at once and the workers keep the results of later
    batches meanwhile; one gather per batch, not one round trip per part (that cost ~10 ms a
    chunk); on the local schedulers one dask.compute per batch."""
    step = batch or len(parts)
    client = current_client()
    if client is not None:
        futures = client.compute(parts)
        for start in range(0, len(futures), step):
            yield from client.gather(futures[start:start + step])
            for future in futures[start:start + step]:
                future.release()
        return
    for start in range(0, len(parts), step):
        yield from dask.compute(*parts[start:start + step])
