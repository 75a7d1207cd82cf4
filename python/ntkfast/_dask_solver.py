"""ntkfast.nystrom_krr on Dask: X and y persisted on the workers in the local solver's chunks, the
K(X, C) passes as tasks where they live (ntkfast._dask_rows), the M × M algebra on the client
(ntkfast._nystrom_fit, the local solver's own), and prediction of Dask arrays chunk by chunk.
"""
from __future__ import annotations

import dataclasses

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from . import _dask_checks as C
from . import _regression_args as args
from . import _validation as V
from ._dask_rows import DaskKernelRows
from ._nystrom_blocks import chunk_rows
from ._nystrom_fit import fit
from ._regression_args import Targets
from .regression import parse_problem


def nystrom_krr(kernel, x, y, *, ridge, n_centers=None, centers=None, t=np.inf, tol=1e-7,
                maxiter=100, preconditioner=True, preconditioner_points=None, memory_budget=None,
                random_state=None, progress=None, n_threads=None):
    """:func:`ntkfast.nystrom_krr` with x (N, d) and y (N,) or (N, O) as Dask (or numpy) arrays
    chunked by rows, on the current Dask scheduler. Same arguments and the same
    :class:`ntkfast.NystromModel`, equal to the local solver's bit for bit (with the same BLAS
    thread count; to rounding otherwise).

    x and y are rechunked to the local solver's summation chunks (``chunk_rows(M)`` rows: about
    64 MB of kernel values each) and persisted on the workers; each pass over K(X, C) is one task
    per chunk, returning an M-sized part that the client adds in chunk order. Only M-vectors
    (and, at a finite t, one M × M part per chunk) cross the network. ``memory_budget``: bytes of
    K(X, C) kept on the workers between passes (all chunks together; default as the local
    solver's); otherwise every pass recomputes it. ``n_threads``: OpenMP threads per task (default
    1, the workers' threads being the parallelism); K(C, C) is computed on the client with its
    default threads. ``model.predict`` of a Dask array returns a Dask array.
    """
    token = C.kernel_token(kernel, scalar_entries=True)
    args.kernel_object(kernel)
    threads = C.task_threads(n_threads)
    budget = V.memory_budget(memory_budget)
    xd = C.row_chunked(x, "x", None).astype(np.float64)
    n = xd.shape[0]
    yd = C.row_chunked(y, "y", None, ndim=1)
    if yd.shape[0] != n:
        raise ValueError(f"y: expected shape ({n},) or ({n}, n_outputs) to match the {n} rows of x, "
                         f"got shape {yd.shape}")
    squeeze = yd.ndim == 1
    yd = (yd[:, None] if squeeze else yd).astype(np.float64)
    problem = parse_problem(kernel, xd, Targets(yd, squeeze), ridge=ridge, n_centers=n_centers,
                            centers=centers, t=t, tol=tol, maxiter=maxiter,
                            preconditioner=preconditioner,
                            preconditioner_points=preconditioner_points, random_state=random_state,
                            progress=progress, n_threads=None)
    rows_per_chunk = chunk_rows(problem.centers.c.shape[0])
    xp, yp = dask.persist(C.checked(xd.rechunk({0: rows_per_chunk}), "x"),
                          C.checked(yd.rechunk({0: rows_per_chunk, 1: -1}), "y"))
    rows = DaskKernelRows(kernel, token, xp, problem.centers.c, memory_budget=budget,
                          n_threads=threads)
    return fit(problem, rows, yp)


# --- prediction -------------------------------------------------------------------------------

def predict_chunk(model, x_chunk, n_threads):
    # the model's arrays arrived pickled: realigned, so that its products run in BLAS as locally
    model = dataclasses.replace(model, coefficients=C.aligned(model.coefficients),
                                centers=C.aligned(model.centers))
    return model.predict(x_chunk, n_threads=n_threads)


def predict(model, x, *, n_threads=None):
    """model.predict(x) for a Dask array x chunked by rows: a Dask array with x's row chunks."""
    token = tokenize(C.kernel_token(model.kernel), model.coefficients, model.centers)
    threads = C.task_threads(n_threads)
    xd = C.row_chunked(x, "x", None, n_features=model.centers.shape[1], match="the centers")
    xc = C.checked(xd, "x")
    name = f"ntkfast-predict-{tokenize(token, xc.name, threads)}"
    mkey = f"ntkfast-model-{token}"
    layer = {mkey: model}
    one = model.coefficients.ndim == 1
    for i in range(len(xd.chunks[0])):
        layer[(name, i) if one else (name, i, 0)] = (predict_chunk, mkey, (xc.name, i, 0), threads)
    chunks = (xd.chunks[0],) if one else (xd.chunks[0], (model.coefficients.shape[1],))
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[xc])
    return da.Array(graph, name, chunks, dtype=np.float64, meta=np.empty((0,) * len(chunks)))
