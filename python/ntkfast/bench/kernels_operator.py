"""The matrix-free operator row of the kernels section: one product (K(X, X) + 0·I) v of the
operator over N points (relu, depth 3, float64, one vector; ``ntkfast._kernel_operator``) beside
``ntk(X[:N/5])`` timed in the same run. The product computes the N²/2 entries of the upper
triangle, 25 times those of ntk(X[:N/5]), without storing any: the target is 1.2 × 25 its time.

The product runs in a fresh subprocess (``python -m ntkfast.bench.kernels_operator SPEC``), so
that its peak resident memory (VmHWM) above the input X belongs to it alone: ntk(X[:N/5])
allocates (N/5)² entries in this process.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .empirical_memory import _proc_status_bytes
from .reporting import fmt_s, table
from .timing import Timing, best_of

FULL_N = 100_000
QUICK_N = 8_000
SHRINK = 5  # ntk is timed on X[:N/SHRINK]: SHRINK² times fewer entries
TARGET = 1.2 * SHRINK ** 2
DEPTH = 3
ACTIVATION = "relu"
WARM_UP_N = 2000  # the worker's warm-up product: thread team, allocator pools, not the memory


@dataclass
class OperatorRow:
    n: int
    n_ntk: int
    apply: Timing = field(default_factory=lambda: Timing("skipped"))
    ntk: Timing = field(default_factory=lambda: Timing("skipped"))
    setup_seconds: Optional[float] = None  # parse and operator construction (per-point tables)
    peak_rss_above_input: Optional[int] = None  # bytes


def _data(n: int, n_features: int, seed: int) -> np.ndarray:
    # The first rows of a larger draw are the draw of fewer rows: X[:N/5] is the same in both.
    return np.random.default_rng(seed).standard_normal((n, n_features))


def _time_ntk(x, threads, repeat) -> float:
    import ntkfast
    return best_of(lambda: ntkfast.ntk(x, depth=DEPTH, activation=ACTIVATION, n_threads=threads),
                   repeat)


def measure(n: int, n_features: int, seed: int, threads: Optional[int], repeat: int) -> OperatorRow:
    """ntk(X[:n/5]) here, then the operator's product over X in a subprocess."""
    row = OperatorRow(n, max(1, n // SHRINK))
    row.ntk = _time_ntk(_data(row.n_ntk, n_features, seed), threads, repeat)  # x freed after
    spec = {"n": n, "n_features": n_features, "seed": seed, "threads": threads, "repeat": repeat}
    try:
        proc = subprocess.run([sys.executable, "-m", "ntkfast.bench.kernels_operator",
                               json.dumps(spec)], capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip()[-800:] or f"exit status {proc.returncode}")
        reply = json.loads(proc.stdout.strip().splitlines()[-1])
    except Exception as exc:
        row.apply = Timing("error", note=f"{type(exc).__name__}: {exc}")
        return row
    row.apply = Timing(**reply["apply"])
    row.setup_seconds = reply["setup_seconds"]
    row.peak_rss_above_input = reply["peak_rss_above_input"]
    return row


def worker(spec: dict) -> dict:
    """The operator's product in this (fresh) process: its time and peak memory above X."""
    import time
    from dataclasses import asdict

    from .._kernel_args import parse
    from .._kernel_operator import KernelOperator
    from .._kernel_passes import projector
    from .._threads import resolve_n_threads

    threads = spec["threads"]
    x = _data(spec["n"], spec["n_features"], spec["seed"])
    v = np.ones(spec["n"])

    def operator(points):
        call = parse(points, None, DEPTH, ACTIVATION, 1.0, 0.0, np.float64, 0,
                     projector(resolve_n_threads(threads)))
        return KernelOperator(call, n_threads=threads)

    small = operator(x[:WARM_UP_N])
    small.matvec(v[:WARM_UP_N])
    del small
    base = _proc_status_bytes("VmRSS")
    t0 = time.perf_counter()
    op = operator(x)
    setup = time.perf_counter() - t0
    # No second warm-up at full size: the product allocates only its result.
    apply = best_of(lambda: op.matvec(v), spec["repeat"], warm_up=lambda: None)
    peak = _proc_status_bytes("VmHWM")
    return {"apply": asdict(apply), "setup_seconds": setup,
            "peak_rss_above_input": None if peak is None or base is None else peak - base}


def check(row: OperatorRow) -> dict:
    """The ratio check of the kernels section's checks table."""
    name = f"operator apply N={row.n} / ntk(X[:{row.n_ntk}]) time"
    if not (row.apply.known and row.ntk.known):
        return {"name": name, "value": None, "target": f"<= {TARGET:g}", "ok": None,
                "note": row.apply.note or "not measured"}
    ratio = row.apply.seconds / row.ntk.seconds
    contended = row.apply.contended or row.ntk.contended
    return {"name": name, "value": ratio, "target": f"<= {TARGET:g} (1.2 x {SHRINK ** 2})",
            "ok": ratio <= TARGET, "note": "contended (!)" if contended else ""}


def report_lines(row: OperatorRow) -> list:
    """The row, as a small table under the kernels table (seconds; "!" = contended)."""
    rss = row.peak_rss_above_input
    body = [[f"operator apply N={row.n}", fmt_s(row.apply),
             "" if row.setup_seconds is None else f"setup {row.setup_seconds:.2f} s"
             + ("" if rss is None else f", peak RSS {rss / 1e6:.0f} MB above the input")],
            [f"ntk(X[:{row.n_ntk}])", fmt_s(row.ntk), ""]]
    lines = [f"matrix-free operator ({ACTIVATION}, depth {DEPTH}, float64, one vector), same run:"]
    return lines + ["  " + s for s in table(["call", "seconds", "note"], body, right={1})]


def _main(argv) -> int:  # pragma: no cover - the subprocess of measure
    if len(argv) == 1:
        print(json.dumps(worker(json.loads(argv[0]))))
        return 0
    print("usage: python -m ntkfast.bench.kernels_operator SPEC_JSON", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main(sys.argv[1:]))
