"""One case of the regression section: a Nyström KRR fit and prediction, measured in a fresh
subprocess so that its peak resident memory (VmHWM) belongs to that case alone.

The parent (``measure``) runs

    python -m ntkfast.bench.regression_case SPEC_JSON

and reads the child's last line of JSON (``case_worker``): fit time, iterations, kernel passes,
the time of one separate K(X, C) pass in the same process, prediction time, test MSE against the
noiseless teacher, and the peak and baseline resident memory.

Problem: x (N, d) and x_test standard normal (seed 0); y = teacher(x) + noise·std(teacher(x))·ε,
the teacher a tanh network of TEACHER_WIDTH hidden units (unit-variance weights over the fan-in),
a smooth function every kernel here can learn; the kernel the depth-``depth`` ReLU NTK (float64)
through a kernel object.
"""
from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from typing import Optional

import numpy as np

from .timing import busy_seconds, others_cpus, own_seconds

SEED = 0
TEACHER_WIDTH = 8


def teacher(x: np.ndarray, seed: int = SEED + 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((x.shape[1], TEACHER_WIDTH)) / np.sqrt(x.shape[1])
    w2 = rng.standard_normal(TEACHER_WIDTH) / np.sqrt(TEACHER_WIDTH)
    return np.tanh(x @ w1) @ w2


def problem(n: int, n_test: int, d: int, noise: float):
    """x, y, x_test, f_test (the teacher at x_test, no noise)."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((n, d))
    x_test = rng.standard_normal((n_test, d))
    f = teacher(x)
    y = f + noise * f.std() * rng.standard_normal(n)
    return x, y, x_test, teacher(x_test)


def _status_bytes(key: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return None


def kernel_pass_seconds(kernel, x: np.ndarray, centers: np.ndarray, call_rows: int, threads) -> float:
    """One pass of K(X, C) alone, in kernel calls of the solver's size, values discarded."""
    t0 = time.perf_counter()
    for start in range(0, x.shape[0], call_rows):
        kernel(x[start:start + call_rows], centers, n_threads=threads)
    return time.perf_counter() - t0


def case_worker(spec: dict) -> dict:
    """The case in this (fresh) process."""
    import ntkfast
    from ntkfast._nystrom_blocks import KernelRows

    n, n_test, d = spec["n"], spec["n_test"], spec["d"]
    threads = spec.get("threads")
    x, y, x_test, f_test = problem(n, n_test, d, spec["noise"])
    kernel = ntkfast.InfiniteWidthKernel(depth=spec["depth"], activation="relu")
    gc.collect()
    base = _status_bytes("VmRSS")
    busy0, own0, wall0 = busy_seconds(), own_seconds(), time.perf_counter()

    t0 = time.perf_counter()
    model = ntkfast.nystrom_krr(kernel, x, y, ridge=spec["ridge"], n_centers=spec["n_centers"],
                                tol=spec["tol"], maxiter=spec["maxiter"], random_state=SEED,
                                memory_budget=spec.get("memory_budget"), progress=False,
                                n_threads=threads)
    fit = time.perf_counter() - t0
    rows = KernelRows(kernel, x, model.centers, memory_budget=spec.get("memory_budget"),
                      n_threads=threads)
    one_pass = kernel_pass_seconds(kernel, x, model.centers, rows.call_rows, threads)
    t0 = time.perf_counter()
    f = model.predict(x_test, n_threads=threads)
    predict = time.perf_counter() - t0
    total = time.perf_counter() - wall0
    others = others_cpus(busy0, own0, busy_seconds(), own_seconds(), total, shortest=0.2)
    return {
        "fit_seconds": fit, "iterations": model.iterations, "converged": model.converged,
        "residual": float(model.residuals[-1]), "kernel_passes": model.kernel_passes,
        "kept_in_memory": bool(rows.keep), "pass_seconds": one_pass, "predict_seconds": predict,
        "test_mse": float(np.mean((f - f_test) ** 2)), "teacher_variance": float(f_test.var()),
        "peak_rss": _status_bytes("VmHWM"), "baseline_rss": base, "seconds": total,
        "others_cpus": others, "jitter": model.jitter,
    }


def measure(spec: dict) -> dict:
    """The case in a subprocess; a failure becomes {"error": ...}."""
    try:
        proc = subprocess.run([sys.executable, "-m", "ntkfast.bench.regression_case",
                               json.dumps(spec)], capture_output=True, text=True, timeout=7200)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip()[-800:] or f"exit status {proc.returncode}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except Exception as exc:  # one failed case must not lose the report
        return {"error": f"{type(exc).__name__}: {exc}"}


def _main(argv) -> int:  # pragma: no cover - the subprocess of measure
    if len(argv) == 1:
        print(json.dumps(case_worker(json.loads(argv[0]))))
        return 0
    print("usage: python -m ntkfast.bench.regression_case SPEC_JSON", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main(sys.argv[1:]))
