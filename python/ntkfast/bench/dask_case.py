"""One case of the Dask section, in a fresh subprocess so that its peak resident memory (VmHWM)
is its own:

    python -m ntkfast.bench.dask_case SPEC_JSON      # prints one line of JSON

- ``ntk``: the in-memory Gram ``kernel(X[:n])`` timed ``repeats`` times (the yardstick of the Zarr
  case: its best time; a 1.6 GB result's first-touch page faults make single runs vary 2x here);
- ``disk``: the bytes of that Gram (``n``² float32) written as plain files of one
  ``chunks``² block each by ``threads`` Python threads into a temporary folder, timed: what the
  disk itself allows, the floor under any Zarr write of the Gram;
- ``zarr``: ``ntkfast.dask.to_zarr(ntkfast.dask.gram(kernel, X, chunks=...))`` into a temporary
  folder on the local threaded scheduler (``threads`` worker threads, one OpenMP thread per
  task), timed, with the peak memory, the bytes written, and three blocks read back (on, above
  and below the diagonal) compared with ``kernel.tile`` bit for bit;
- ``disk`` and ``zarr`` with ``warm_up``: one untimed write of the same size first (then
  deleted), as every timing of ``ntkfast bench`` has: on this VM the first touch of memory that
  has lain idle costs the host's page faults, and a cold 10 GB write took up to twice as long;
- ``nystrom``: ``ntkfast.nystrom_krr`` on ``threads`` threads (``where="local"``), or
  ``ntkfast.dask.nystrom_krr`` on a LocalCluster of ``threads`` single-threaded worker processes
  (``where="cluster"``, started before the clock), on the regression section's problem; the
  coefficients go to ``coefficients_path`` (local) or are compared with it (cluster).

X is standard normal (seed 0); the kernel the depth-``depth`` ReLU NTK. The parent sets
OPENBLAS_NUM_THREADS=1 in the subprocesses: the workers of a cluster run BLAS on one thread
(distributed sets it), and the local solver then makes the same products.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from .regression_case import _status_bytes, problem
from .timing import busy_seconds, others_cpus, own_and_children_seconds, own_seconds


def _kernel(spec):
    import ntkfast

    return ntkfast.InfiniteWidthKernel(depth=spec["depth"], dtype=np.dtype(spec.get("dtype", "float64")))


def ntk_case(spec: dict) -> dict:
    x = np.random.default_rng(0).standard_normal((spec["n"], spec["d"]))
    kernel = _kernel(spec)
    kernel(x[:64], n_threads=spec["threads"])  # warm-up: load the core, start the threads
    times, cpu = [], []  # (the repeats warm the memory up: the best is a warm run)
    for _ in range(spec.get("repeats", 1)):
        c0, t0 = own_seconds(), time.perf_counter()
        gram = kernel(x, n_threads=spec["threads"])
        times.append(time.perf_counter() - t0)
        cpu.append(own_seconds() - c0)
        del gram
    best = int(np.argmin(times))
    return {"seconds": times[best], "cpu_seconds": cpu[best], "all_seconds": times}


def disk_case(spec: dict) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    c = spec["chunks"]
    block = np.random.default_rng(0).standard_normal((c, c)).astype(np.float32)
    count = round(spec["n"] ** 2 * 4 / block.nbytes)
    folder = tempfile.mkdtemp(prefix="ntkfast-bench-disk-", dir=spec.get("dir"))

    def write(k):
        with open(os.path.join(folder, str(k)), "wb") as f:
            f.write(block)

    def write_all():
        c0, t0 = own_seconds(), time.perf_counter()
        with ThreadPoolExecutor(spec["threads"]) as pool:
            list(pool.map(write, range(count)))
        return time.perf_counter() - t0, own_seconds() - c0

    try:
        warm_up = None
        if spec.get("warm_up"):
            warm_up = write_all()[0]
            for name in os.listdir(folder):
                os.remove(os.path.join(folder, name))
        seconds, cpu = write_all()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"seconds": seconds, "cpu_seconds": cpu, "bytes_written": count * block.nbytes,
            "warm_up_seconds": warm_up}


def zarr_case(spec: dict) -> dict:
    import dask
    import zarr

    import ntkfast.dask as nd

    x = np.random.default_rng(0).standard_normal((spec["n"], spec["d"]))
    kernel = _kernel(spec)
    folder = tempfile.mkdtemp(prefix="ntkfast-bench-zarr-", dir=spec.get("dir"))
    try:
        path = os.path.join(folder, "gram.zarr")
        base = _status_bytes("VmRSS")

        def write(where):
            c0, t0 = own_seconds(), time.perf_counter()
            with dask.config.set(scheduler="threads", num_workers=spec["threads"]):
                nd.to_zarr(nd.gram(kernel, x, chunks=spec["chunks"]), where, progress=False)
            return time.perf_counter() - t0, own_seconds() - c0

        warm_up = None
        if spec.get("warm_up"):
            warm_up = write(os.path.join(folder, "warm-up.zarr"))[0]
            shutil.rmtree(os.path.join(folder, "warm-up.zarr"))
        seconds, cpu = write(path)
        peak = _status_bytes("VmHWM")
        written = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)
        z = zarr.open_array(path, mode="r")
        c, n = spec["chunks"], spec["n"]
        last = (n - 1) // c * c
        same = all(np.array_equal(z[i:i + c, j:j + c],
                                  kernel.tile(x[i:i + c], x[j:j + c], offsets=(i, j)))
                   for i, j in [(0, 0), (0, last), (last, 0)])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss": peak, "baseline_rss": base,
            "bytes_written": written, "blocks_bit_identical": bool(same), "warm_up_seconds": warm_up}


def nystrom_case(spec: dict) -> dict:
    import ntkfast

    x, y, _, _ = problem(spec["n"], 1, spec["d"], spec["noise"])
    kernel = _kernel(spec)
    kw = dict(ridge=spec["ridge"], n_centers=spec["n_centers"], tol=spec["tol"],
              maxiter=spec["maxiter"], random_state=0, progress=False)
    if spec["where"] == "local":
        t0 = time.perf_counter()
        model = ntkfast.nystrom_krr(kernel, x, y, n_threads=spec["threads"], **kw)
        seconds = time.perf_counter() - t0
        np.save(spec["coefficients_path"], model.coefficients)
        return {"seconds": seconds, "iterations": model.iterations, "peak_rss": _status_bytes("VmHWM")}
    import distributed

    import ntkfast.dask as nd

    with distributed.LocalCluster(n_workers=spec["threads"], threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        client.run(lambda: __import__("ntkfast").ntk(np.eye(2), depth=2))  # import on the workers
        t0 = time.perf_counter()
        model = nd.nystrom_krr(kernel, x, y, **kw)
        seconds = time.perf_counter() - t0
        worker_peaks = client.run(lambda: _status_bytes("VmHWM"))
    local = np.load(spec["coefficients_path"])
    diff = float(np.abs(model.coefficients - local).max() / np.abs(local).max())
    return {"seconds": seconds, "iterations": model.iterations, "peak_rss": _status_bytes("VmHWM"),
            "worker_peak_rss": max(worker_peaks.values()), "relative_difference": diff,
            "bit_identical": bool(np.array_equal(model.coefficients, local))}


CASES = {"ntk": ntk_case, "disk": disk_case, "zarr": zarr_case, "nystrom": nystrom_case}


def measure(spec: dict) -> dict:
    """The case in a subprocess (one BLAS thread), with the CPUs other processes used meanwhile
    (the subprocess and its workers counted as ours); a failure becomes {"error": ...}."""
    busy0, own0, t0 = busy_seconds(), own_and_children_seconds(), time.perf_counter()
    try:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        proc = subprocess.run([sys.executable, "-m", "ntkfast.bench.dask_case", json.dumps(spec)],
                              capture_output=True, text=True, timeout=7200, env=env)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip()[-800:] or f"exit status {proc.returncode}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except Exception as exc:  # one failed case must not lose the report
        return {"error": f"{type(exc).__name__}: {exc}"}
    wall = time.perf_counter() - t0
    out["others_cpus"] = others_cpus(busy0, own0, busy_seconds(), own_and_children_seconds(), wall,
                                     shortest=0.2)
    return out


def _main(argv) -> int:  # pragma: no cover - the subprocess of measure
    if len(argv) == 1:
        spec = json.loads(argv[0])
        print(json.dumps(CASES[spec["case"]](spec)))
        return 0
    print("usage: python -m ntkfast.bench.dask_case SPEC_JSON", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main(sys.argv[1:]))
