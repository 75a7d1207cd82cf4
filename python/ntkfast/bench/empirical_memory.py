"""The memory rows of the empirical section: each case is one cold ``empirical_ntk`` call in a
fresh subprocess, so that its peak resident memory (VmHWM) belongs to that one call.

The parent (``measure_memory``) runs

    python -m ntkfast.bench.empirical_memory SPEC_JSON

and reads the child's one JSON line (``_main`` → ``memory_worker``): the call's time, peak and
baseline resident memory, output and feature sizes, and the memory budget it used.
"""
from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from typing import Optional

import numpy as np

from .empirical_setup import MemoryRow, inputs, network
from .timing import busy_seconds, others_cpus, own_seconds


def _proc_status_bytes(key: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return None


def memory_worker(spec: dict) -> dict:
    """One empirical_ntk call in this (fresh) process: time and peak resident memory."""
    import resource

    import ntkfast
    from ntkfast.empirical import DEFAULT_MEMORY_BUDGET
    from ntkfast._validation import available_memory_bytes

    widths, n, dt = tuple(spec["widths"]), spec["n"], spec["dtype"]
    net = network(widths, dt)
    x = inputs(n, widths[0])
    budget = spec["memory_budget"]
    itemsize = np.dtype(dt).itemsize
    hidden = sum(widths[1:-1])
    features = n * hidden * (1 + widths[-1]) * itemsize  # a^(l) and δ^(l) of every hidden layer
    shape = {"trace": (n, n), "diagonal": (n, n, widths[-1]), "full": (n, n, widths[-1], widths[-1])}
    out_bytes = int(np.prod(shape[spec["output"]])) * itemsize
    used = budget if budget is not None else int(min(DEFAULT_MEMORY_BUDGET,
                                                     max(available_memory_bytes() - out_bytes, 0) // 4))
    gc.collect()
    base = _proc_status_bytes("VmRSS")
    busy0, own0, t0 = busy_seconds(), own_seconds(), time.perf_counter()
    k = ntkfast.empirical_ntk(net, x, output=spec["output"], n_threads=spec.get("threads"),
                              memory_budget=budget)
    seconds = time.perf_counter() - t0
    others = others_cpus(busy0, own0, busy_seconds(), own_seconds(), seconds, shortest=0.2)
    peak = _proc_status_bytes("VmHWM")
    if peak is None:  # pragma: no cover - not Linux; ru_maxrss is in KiB there too
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert k.shape == shape[spec["output"]] and np.isfinite(k[:, :8]).all()
    return {"seconds": seconds, "others_cpus": others, "peak_rss": peak, "baseline_rss": base,
            "output_bytes": k.nbytes, "feature_bytes": features, "budget_used": used,
            "blocked": features > used}


def measure_memory(case, threads=None) -> MemoryRow:
    """One case of ``MEMORY_CASES`` (label, widths, N, output, dtype, memory_budget), measured in
    a subprocess; a failure becomes a row with status "error"."""
    label, widths, n, output, dt, budget = case
    row = MemoryRow(label, dt, n, tuple(widths), output, budget)
    spec = {"widths": list(widths), "n": n, "output": output, "dtype": dt,
            "memory_budget": budget, "threads": threads}
    try:
        proc = subprocess.run([sys.executable, "-m", "ntkfast.bench.empirical_memory",
                               json.dumps(spec)], capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip()[-800:] or f"exit status {proc.returncode}")
        reply = json.loads(proc.stdout.strip().splitlines()[-1])
    except Exception as exc:
        row.status, row.note = "error", f"{type(exc).__name__}: {exc}"
        return row
    for k, v in reply.items():
        setattr(row, k, v)
    return row


def _main(argv) -> int:  # pragma: no cover - the subprocess of measure_memory
    if len(argv) == 1:
        print(json.dumps(memory_worker(json.loads(argv[0]))))
        return 0
    print("usage: python -m ntkfast.bench.empirical_memory SPEC_JSON", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main(sys.argv[1:]))
