"""ntkfast on Dask: kernel Grams as lazy Dask arrays (out of core to Zarr), and the large-N
Nyström solver with its K(X, C) passes run as tasks where the data lives.

    >>> import ntkfast, ntkfast.dask
    >>> k = ntkfast.InfiniteWidthKernel(depth=3)
    >>> g = ntkfast.dask.gram(k, x, chunks=4096)      # lazy, (N, N), square 4096² blocks
    >>> ntkfast.dask.to_zarr(g, "gram.zarr")          # bounded memory, a progress bar
    >>> model = ntkfast.dask.nystrom_krr(k, x_dask, y_dask, ridge=1.0, n_centers=2000)
    >>> model.predict(x_test_dask)                    # a Dask array

Everything runs on whatever Dask scheduler is current: the threaded default, processes, or a
``dask.distributed`` cluster (``Client("tcp://scheduler:8786")``): kernel objects and models
pickle, and the compiled core imports on the workers. Needs the extra ``ntkfast[dask]`` (dask,
distributed, zarr); ``import ntkfast`` alone never imports Dask.

Every block is the kernel object's tile primitive on the row chunks it spans, so a Gram computed
here equals ``kernel(x)`` bit for bit, whatever the chunks or the scheduler. Numerical (Mehler)
activations need a fixed series plan (``input_bound=`` or ``kernel.planned_for(x)``). Each task
runs its tiles on ``n_threads`` OpenMP threads, default 1: the workers' threads are the
parallelism.
"""
from __future__ import annotations

from ._dask_gram import diag, gram
from ._dask_solver import nystrom_krr
from ._dask_zarr import to_zarr

__all__ = ["gram", "diag", "to_zarr", "nystrom_krr"]
