"""A Dask array (a Gram larger than memory) written to a Zarr store block by block.

Each block is written by the task after the one that computes it and then released, so memory
stays about (tasks running at once) × (a block and its transpose), not the matrix. The store's
chunks are the array's blocks (Zarr needs a regular grid: equal chunks but the last). The array
gets the Dask name of what was written as an attribute (``ntkfast_dask_name``): writing the same
computation again into its own store is a resumption and allowed; any other array in the store
is refused unless ``overwrite=True``.
"""
from __future__ import annotations

import sys

import dask
import dask.array as da
import zarr

from ._dask_scheduler import current_client
from ._progress import wanted

NAME_ATTRIBUTE = "ntkfast_dask_name"
_NO_COMPRESSION = "compressors" if hasattr(zarr, "create_array") else "compressor"  # Zarr 3 / 2


def to_zarr(array, store, *, component=None, overwrite=False, progress=None, **zarr_kwargs):
    """Write the Dask array ``array`` to ``store`` (a path or a Zarr store; ``component``: the
    array's path inside it) and return the Zarr array. Extra keywords go to
    ``zarr.create_array`` (Zarr 3) or ``zarr.create`` (Zarr 2).

    The blocks are stored uncompressed unless a compressor is asked for (``compressors=`` in
    Zarr 3, ``compressor=`` in Zarr 2): a Gram's mantissas are noise to a compressor (Zarr's
    default zstd keeps 87% of a float32 ReLU Gram's bytes) and compressing a block costs more CPU
    than computing it (0.10 s against 0.06 s for 4096² float32 on one core), so the uncompressed
    write finishes first (N = 50 000: 18 s against 28 s on 2 cores).

    ``progress``: dask's progress bar on stderr on the local schedulers, distributed's
    ``progress`` on a cluster (its dashboard shows the same); None shows it when stderr is a
    terminal."""
    if not isinstance(array, da.Array):
        raise TypeError(f"array: expected a dask.array.Array (e.g. ntkfast.dask.gram(...)), got "
                        f"{type(array).__name__}")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite: expected True or False, got {overwrite!r}")
    show = wanted(progress)
    chunks = _regular_chunks(array)
    replace = overwrite or _check_existing(store, component, array)
    target = _create(store, component, array, chunks, replace, zarr_kwargs)
    stored = da.store(array, target, lock=False, compute=False)  # blocks align with chunks
    _run(stored, show)
    return target


def _regular_chunks(array) -> tuple:
    for axis, sizes in enumerate(array.chunks):
        if any(s != sizes[0] for s in sizes[:-1]) or sizes[-1] > sizes[0]:
            raise ValueError(
                f"array: Zarr needs equal chunks along each axis (the last may be smaller), got "
                f"{sizes} on axis {axis}; chunk x by a fixed number of rows (chunks=n)")
    return tuple(int(sizes[0]) for sizes in array.chunks)


def _create(store, component, array, chunks, replace: bool, zarr_kwargs):
    zarr_kwargs = dict(zarr_kwargs)
    if "compressors" not in zarr_kwargs and "compressor" not in zarr_kwargs:
        zarr_kwargs[_NO_COMPRESSION] = None
    # Every block is written, also one that holds only the fill value: Zarr's check for those
    # (write_empty_chunks=False) compares the whole block on its one I/O thread, which took
    # longer than computing the blocks on two cores (a Gram has no such blocks anyway).
    if hasattr(zarr, "create_array"):  # Zarr 3
        config = dict(zarr_kwargs.pop("config", None) or {})
        config.setdefault("write_empty_chunks", True)
        zarr_kwargs["config"] = config
        return zarr.create_array(store=store, name=component, shape=array.shape, dtype=array.dtype,
                                 chunks=chunks, overwrite=replace,
                                 attributes={NAME_ATTRIBUTE: array.name}, **zarr_kwargs)
    zarr_kwargs.setdefault("write_empty_chunks", True)
    target = zarr.create(store=store, path=component, shape=array.shape, dtype=array.dtype,  # Zarr 2
                         chunks=chunks, overwrite=replace, **zarr_kwargs)
    target.attrs[NAME_ATTRIBUTE] = array.name
    return target


def _check_existing(store, component, array) -> bool:
    """True when the store holds this very computation (rewrite it), False when it holds
    nothing; refuses anything else."""
    try:
        old = zarr.open_array(store=store, path=component, mode="r")
    except (FileNotFoundError, KeyError, *_NOT_FOUND):
        if _holds_group(store, component):
            raise ValueError(f"store: {store!r} already holds a Zarr group at "
                             f"{component or 'its root'}; pass overwrite=True to replace it") from None
        return False
    except _GROUP_THERE:
        raise ValueError(f"store: {store!r} already holds a Zarr group at "
                         f"{component or 'its root'}; pass overwrite=True to replace it") from None
    if old.attrs.get(NAME_ATTRIBUTE) == array.name and old.shape == array.shape \
            and old.dtype == array.dtype:
        return True
    raise ValueError(
        f"store: {store!r} already holds a different array (shape {old.shape}, dtype {old.dtype}"
        f"{', written from ' + str(old.attrs.get(NAME_ATTRIBUTE)) if old.attrs.get(NAME_ATTRIBUTE) else ''}"
        f") than the one to write (shape {array.shape}, dtype {array.dtype}, {array.name}); pass "
        "overwrite=True to replace it")


# What opening an array finds instead, named differently by Zarr 2 and 3.
_NOT_FOUND = tuple(getattr(zarr.errors, n) for n in ("ArrayNotFoundError", "PathNotFoundError")
                   if hasattr(zarr.errors, n))
_GROUP_THERE = tuple(getattr(zarr.errors, n) for n in ("NodeTypeValidationError", "ContainsGroupError")
                     if hasattr(zarr.errors, n))


def _holds_group(store, component) -> bool:
    try:
        zarr.open_group(store=store, path=component, mode="r")
    except Exception:  # noqa: BLE001 - any failure to open one means: no group there
        return False
    return True


def _run(stored, show: bool) -> None:
    client = current_client()
    if client is not None:
        future = client.compute(stored)
        if show:
            from distributed import progress

            progress(future)
        future.result()
        return
    if show:
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):
            dask.compute(stored)
    else:
        dask.compute(stored)
