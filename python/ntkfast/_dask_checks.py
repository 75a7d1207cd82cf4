"""Argument checks of ntkfast.dask, run on the client before any task is built, and the per-chunk
check every graph starts with, run on the workers. Every refusal names the argument (and, for
what only a chunk's values can show, the chunk and its rows).
"""
from __future__ import annotations

import numbers

import cloudpickle
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

# n_threads=None: OpenMP threads per task. Dask's worker threads are the parallelism (a worker
# with t threads runs t tasks at once), so each task runs its tiles on one thread: t threads in
# all, never t². Workers that run one task at a time on many cores (``--nthreads 1``) want an
# explicit n_threads.
TASK_THREADS = 1


def kernel_token(kernel, scalar_entries: bool = False) -> str:
    """A token of the kernel's pickled form, after checking that it is a kernel object whose
    tiles match the one-call Gram and that it survives the trip to a worker (cloudpickle, as
    Dask sends it): an unpicklable kernel is refused here, before any task exists, by name."""
    if not all(hasattr(kernel, a) for a in ("tile", "diag", "dtype", "output_shape")):
        raise TypeError("kernel: expected an ntkfast kernel object (ntkfast.InfiniteWidthKernel or "
                        f"ntkfast.EmpiricalKernel), got {type(kernel).__name__}")
    if scalar_entries and kernel.output_shape != ():
        raise ValueError(f"kernel: the solver needs scalar kernel entries (output='trace'), got "
                         f"entries of shape {kernel.output_shape}")
    if not getattr(kernel, "tiles_consistent", True):
        raise ValueError(
            f"kernel: {kernel!r} plans its series from each call's points, so tasks on separate "
            "chunks would not agree with each other; make it with input_bound= covering every "
            "point (the largest mean square ||x||^2/n_features), or kernel.planned_for(x) for "
            "numpy x")
    try:
        blob = cloudpickle.dumps(kernel)
        cloudpickle.loads(blob)
    except Exception as exc:  # whatever pickling raises: the message below is what helps
        raise TypeError(
            f"kernel: {kernel!r} cannot be pickled for the Dask workers ({type(exc).__name__}: "
            f"{exc}); build its activation from a name, an ntkfast.activations object or a "
            "function cloudpickle can send (no locks, open files or other process state in it)"
        ) from exc
    return tokenize(blob)


def task_threads(n_threads) -> int:
    if n_threads is None:
        return TASK_THREADS
    if isinstance(n_threads, (bool, np.bool_)) or not isinstance(n_threads, numbers.Integral) \
            or not 1 <= n_threads <= 4096:
        raise ValueError(f"n_threads: expected None or a thread count per task from 1 to 4096, "
                         f"got {n_threads!r}")
    return int(n_threads)


def chunk_rows(chunks, name: str = "chunks"):
    if chunks is None:
        return None
    if isinstance(chunks, (bool, np.bool_)) or not isinstance(chunks, numbers.Integral) or chunks < 1:
        raise ValueError(f"{name}: expected None or a positive number of rows per chunk, got {chunks!r}")
    return int(chunks)


def default_rows(kernel) -> int:
    """Rows per chunk of numpy input: a Gram block of about dask's array.chunk-size (128 MiB)."""
    import dask

    from dask.utils import parse_bytes

    target = parse_bytes(dask.config.get("array.chunk-size"))
    per_entry = np.dtype(kernel.dtype).itemsize * int(np.prod(kernel.output_shape, dtype=np.int64))
    return max(1, int(np.sqrt(target / per_entry)))


def row_chunked(x, name: str, rows, *, default=None, n_features=None, match="x", ndim=2) -> da.Array:
    """x as a Dask array chunked by rows only (numpy or lists: chunks of ``rows`` rows, else
    ``default``, else one chunk); a Dask array is rechunked only when ``rows`` is given. Shapes and dtype are checked here, values in
    the tasks (``checked_chunks``)."""
    if isinstance(x, da.Array):
        arr = x
    else:
        try:
            a = np.asarray(x)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"{name}: expected a 2-D array of shape (n_samples, n_features); {exc}") from None
        arr = da.from_array(a, chunks=(rows or default or a.shape[0] or 1,) + a.shape[1:]) if a.ndim >= 1 else a
    dims = "(n_samples, n_features)" if ndim == 2 else "(n_samples,) or (n_samples, n_outputs)"
    if arr.ndim not in ((2,) if ndim == 2 else (1, 2)):
        raise ValueError(f"{name}: expected a {ndim}-D array of shape {dims}, got shape {arr.shape}")
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real numbers (float or integer), got dtype {arr.dtype}")
    if any(np.isnan(c) for axis in arr.chunks for c in axis):
        raise ValueError(f"{name}: its chunk sizes are unknown (NaN); call {name}.compute_chunk_sizes() first")
    if arr.shape[0] == 0 or (arr.ndim == 2 and arr.shape[1] == 0):
        raise ValueError(f"{name}: expected at least one sample{' and one feature' if ndim == 2 else ''}, "
                         f"got shape {arr.shape}")
    if arr.ndim == 2 and len(arr.chunks[1]) != 1:
        raise ValueError(
            f"{name}: expected chunks by rows only, each chunk holding all {arr.shape[1]} columns, "
            f"got column chunks {arr.chunks[1]}; use {name}.rechunk({{1: -1}})")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name}: expected {n_features} features to match {match}, got shape {arr.shape}")
    if rows is not None and isinstance(x, da.Array):
        arr = arr.rechunk({0: rows})
    return arr


def kernel_features(kernel, x: da.Array, name: str) -> None:
    """An empirical kernel takes exactly its network's input width."""
    widths = getattr(kernel, "widths", None)
    if widths is not None and x.shape[1] != widths[0]:
        raise ValueError(f"{name}: expected {widths[0]} features (the network's input width), got "
                         f"shape {x.shape}")


def starts(chunks) -> list[int]:
    return np.concatenate([[0], np.cumsum(chunks)]).astype(int).tolist()


def aligned(a):
    """a, or a copy of it in the same memory order, aligned to its dtype. Arrays that crossed
    the network may start at any byte (measured: offsets 1, 17, 21, ... in pickled frames), and
    numpy's matmul runs unaligned operands through its own loops instead of BLAS: other sums,
    other last bits than the local solver's."""
    if a is None or (a.flags.aligned and (a.flags.c_contiguous or a.flags.f_contiguous)):
        return a
    return a.copy(order="K")


def checked_chunk(block, name: str, index: int, start: int, shape: tuple):
    """A chunk as its array's chunks promised it (shape) and finite, on the worker; the error
    names the argument, the chunk and its rows."""
    a = np.asarray(block)
    rows = f"chunk {index} (rows {start}:{start + shape[0]})"
    if a.shape != tuple(shape):
        raise ValueError(f"{name}: {rows} has shape {a.shape}, but the array's chunks say {tuple(shape)}")
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: {rows} holds dtype {a.dtype}, expected real numbers")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        where = f"row {start + int(bad[0])}" + (f", column {int(bad[1])}" if a.ndim == 2 else "")
        raise ValueError(f"{name}: {rows} contains NaN or infinity (first at {where})")
    return aligned(a)


def checked(arr: da.Array, name: str) -> da.Array:
    """arr with a ``checked_chunk`` task in front of each row chunk: the graph's entry point."""
    layer_name = f"ntkfast-checked-{name}-{tokenize(arr.name, name)}"
    first = starts(arr.chunks[0])
    tail = tuple(c[0] for c in arr.chunks[1:])
    zeros = (0,) * (arr.ndim - 1)
    layer = {(layer_name, i) + zeros: (checked_chunk, (arr.name, i) + zeros, name, i, first[i],
                                       (rows,) + tail)
             for i, rows in enumerate(arr.chunks[0])}
    graph = HighLevelGraph.from_collections(layer_name, layer, dependencies=[arr])
    return da.Array(graph, layer_name, arr.chunks, dtype=arr.dtype, meta=arr._meta)
