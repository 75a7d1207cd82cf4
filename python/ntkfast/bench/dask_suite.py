"""The Dask section of ``ntkfast bench`` (issue 13): ntkfast.dask out of core and on a cluster.

Cases (headline):
  - Zarr: the N = 50 000, d = 32 float32 Gram of the depth-3 ReLU NTK (10 GB) written to a Zarr
    store in a temporary folder through the local threaded scheduler (chunks of 3125 rows: 39 MB
    blocks, 16 to a side), beside the in-memory ``kernel(X[:20000])`` in the same run; targets:
    peak resident memory <= 1.5 GB, time <= 1.3 × 6.25 × the in-memory Gram's (6.25 = (50 000 / 20 000)²; its
    best of 3 runs); beside them, the same bytes written as plain files, one block per file, on
    the same threads: the disk's own speed, which bounds any Zarr write of the Gram from below;
    each case with the CPU seconds it used (all threads; the copy into the page cache is CPU
    work on the same cores, so it cannot hide behind the entries);
  - solver: ``nystrom_krr`` at N = 10⁶, M = 2000 (the regression section's problem) on a
    LocalCluster of 2 single-threaded worker processes against the local solver on 2 threads;
    targets: time <= 1.15 × the local solver's, the same answer (bit for bit here: one BLAS
    thread on both sides).
``--quick``: N = 4000 against 1600 for the Gram (chunks of 512), N = 20 000 and M = 500 for the
solver: a smoke run of seconds whose timing checks are indicative only. Each case runs in a fresh
subprocess (``dask_case``), timed once (these are long runs; the in-memory Gram three times),
the Zarr and plain-file writes after an untimed write of the same size (a cold 10 GB write takes
up to twice as long on this VM); "!" marks a case during which other processes used more than a
quarter CPU.
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Optional

from .dask_case import measure
from .machine import load_line, loadavg, machine_info, machine_lines
from .reporting import check_adder, checks_and_total, table
from .timing import BUSY_CPUS, busy_seconds, others_cpus, own_and_children_seconds

HEADLINE = dict(gram_n=50_000, gram_reference_n=20_000, solver_n=1_000_000, n_centers=2000)
QUICK = dict(gram_n=4000, gram_reference_n=1600, gram_chunks=512, solver_n=20_000, n_centers=500)
# Targets from the issue (Benchmarks)
GRAM_PEAK_RSS = 1.5e9   # bytes
GRAM_TIME_RATIO = 1.3   # zarr write / (6.25 x in-memory Gram of 20 000)
SOLVER_RATIO = 1.15     # cluster / local


@dataclass
class Options:
    gram_n: int = HEADLINE["gram_n"]
    gram_reference_n: int = HEADLINE["gram_reference_n"]
    gram_chunks: int = 3125   # 50 000 / 16 exactly (4096 would pad the edge blocks: 11.3 GB)
    gram_d: int = 32
    solver_n: int = HEADLINE["solver_n"]
    n_centers: int = HEADLINE["n_centers"]
    solver_d: int = 16
    depth: int = 3
    ridge: float = 1.0
    noise: float = 0.5
    tol: float = 1e-7
    maxiter: int = 100
    threads: int = 2
    quick: bool = False
    zarr_dir: Optional[str] = None   # where the temporary store goes (default: the system's temp)

    @property
    def headline(self) -> bool:
        return all(getattr(self, k) == v for k, v in HEADLINE.items()) and self.threads == 2


def options(quick: bool = False, **overrides) -> Options:
    """The full or quick profile, with the given fields (not None) replacing its values."""
    base = dict(QUICK) if quick else {}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Options(quick=quick, **base)


def run(opts: Options, progress=None) -> dict:
    if progress is None:
        progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    busy0, own0 = busy_seconds(), own_and_children_seconds()
    info = machine_info(opts.threads)
    say = lambda what: progress(f"dask: {what} ({time.perf_counter() - started:.0f} s)")  # noqa: E731
    gram = dict(depth=opts.depth, d=opts.gram_d, dtype="float32", threads=opts.threads)
    say(f"in-memory Gram N={opts.gram_reference_n}")
    reference = measure(dict(gram, case="ntk", n=opts.gram_reference_n, repeats=3))
    say(f"Gram N={opts.gram_n} to Zarr")
    stored = measure(dict(gram, case="zarr", n=opts.gram_n, chunks=opts.gram_chunks, dir=opts.zarr_dir,
                          warm_up=True))
    say("the same bytes as plain files (the disk's floor)")
    disk = measure(dict(gram, case="disk", n=opts.gram_n, chunks=opts.gram_chunks, dir=opts.zarr_dir,
                        warm_up=True))
    solver = dict(case="nystrom", n=opts.solver_n, d=opts.solver_d, depth=opts.depth,
                  ridge=opts.ridge, noise=opts.noise, n_centers=opts.n_centers, tol=opts.tol,
                  maxiter=opts.maxiter, threads=opts.threads)
    with tempfile.TemporaryDirectory(prefix="ntkfast-bench-") as folder:
        solver["coefficients_path"] = f"{folder}/local.npy"
        say(f"local nystrom_krr N={opts.solver_n} M={opts.n_centers}")
        local = measure(dict(solver, where="local"))
        say(f"nystrom_krr on a LocalCluster of {opts.threads} workers")
        cluster = measure(dict(solver, where="cluster")) if "error" not in local else \
            {"error": "the local solver failed"}
    total = time.perf_counter() - started
    results = {
        "machine": info, "options": asdict(opts), "headline": opts.headline,
        "gram": {"reference": reference, "zarr": stored, "disk": disk},
        "solver": {"local": local, "cluster": cluster},
        "total_seconds": total,
        "others_cpus_during_run": others_cpus(busy0, own0, busy_seconds(), own_and_children_seconds(), total),
        "load_average_at_end": loadavg(),
    }
    results["checks"] = checks(results)
    return results


class _Cells:  # what check_adder reads of timing cells
    def __init__(self, *cases):
        self.contended = any(_contended(c) for c in cases)


def _contended(case) -> bool:
    return case.get("others_cpus") is not None and case["others_cpus"] > BUSY_CPUS


def _scale(o) -> float:
    return (o["gram_n"] / o["gram_reference_n"]) ** 2


def checks(results: dict) -> list[dict]:
    out = []
    o = results["options"]
    add = check_adder(out, results["headline"], "quick sizes: target is for the headline")
    ref, z = results["gram"]["reference"], results["gram"]["zarr"]
    if "error" not in z:
        add(f"N={o['gram_n']} Gram to Zarr: peak resident memory", z["peak_rss"] / 1e9,
            f"<= {GRAM_PEAK_RSS / 1e9:g} GB", z["peak_rss"] <= GRAM_PEAK_RSS, fmt="GB")
        add(f"N={o['gram_n']} Gram to Zarr: blocks read back = kernel.tile", None, "bit for bit",
            z["blocks_bit_identical"], fmt="-", sized=False)
    if "error" not in z and "error" not in ref:
        ratio = z["seconds"] / (_scale(o) * ref["seconds"])
        add(f"Zarr write / ({_scale(o):g} x in-memory Gram of {o['gram_reference_n']})", ratio,
            f"<= {GRAM_TIME_RATIO:g}", ratio <= GRAM_TIME_RATIO, cells=(_Cells(ref, z),))
    local, cl = results["solver"]["local"], results["solver"]["cluster"]
    if "error" not in local and "error" not in cl:
        ratio = cl["seconds"] / local["seconds"]
        add(f"nystrom_krr N={o['solver_n']}: cluster / local", ratio, f"<= {SOLVER_RATIO:g}",
            ratio <= SOLVER_RATIO, f"{cl['iterations']} vs {local['iterations']} iterations",
            cells=(_Cells(local, cl),))
        add(f"nystrom_krr N={o['solver_n']}: same coefficients", cl["relative_difference"],
            "<= 1e-12 relative", cl["relative_difference"] <= 1e-12,
            "bit for bit" if cl["bit_identical"] else "", fmt="e", sized=False)
    return out


def _fmt_value(c) -> str:
    v = c["value"]
    if v is None:
        return "-"
    return {"x": f"{v:.2f}", "GB": f"{v:.2f} GB"}.get(c["format"], f"{v:.2e}")


def _row(what, case, extra=""):
    if "error" in case:
        return [what, "error", "", "", "", case["error"][:60]]
    mark = "!" if _contended(case) else ""
    peak, cpu = case.get("peak_rss"), case.get("cpu_seconds")
    return [what, f"{case['seconds']:.1f} s{mark}", "" if cpu is None else f"{cpu:.1f} s",
            "" if peak is None else f"{peak / 1e9:.2f} GB",
            f"{case['others_cpus']:.2f}" if case.get("others_cpus") is not None else "", extra]


def report(results: dict) -> str:
    m, o = results["machine"], results["options"]
    g, s = results["gram"], results["solver"]
    lines = [
        "ntkfast bench: ntkfast.dask (Grams to Zarr out of core; nystrom_krr on a LocalCluster)"
        + (" --quick" if o["quick"] else ""),
        *machine_lines(m),
        load_line(m, results),
        f"Gram: X ({o['gram_n']}, {o['gram_d']}) standard normal, depth-{o['depth']} ReLU NTK, "
        f"float32, chunks of {o['gram_chunks']} rows, threaded scheduler with {o['threads']} "
        "threads (one OpenMP thread per task); in-memory Gram on the same threads",
        f"solver: the regression section's problem, N = {o['solver_n']}, d = {o['solver_d']}, "
        f"M = {o['n_centers']}, ridge {o['ridge']:g}, tol {o['tol']:g}; local on {o['threads']} "
        f"threads, cluster of {o['threads']} single-threaded worker processes; one BLAS thread each",
        "each case one timed run in a fresh subprocess (the writes after an untimed one of the same "
        "size; the in-memory Gram: best of 3); CPU = its own CPU seconds; others = CPUs other "
        "processes used",
        "",
    ]
    z, cl, disk = g["zarr"], s["cluster"], g.get("disk", {"error": "not run"})
    ref = g["reference"]
    body = [
        _row(f"Gram N={o['gram_reference_n']} in memory", ref, "" if "error" in ref else
             "best of " + ", ".join(f"{t:.2f}" for t in ref.get("all_seconds", [ref["seconds"]]))),
        _row(f"Gram N={o['gram_n']} to Zarr", z,
             "" if "error" in z else f"{z['bytes_written'] / 1e9:.1f} GB written"
             + ("" if "error" in disk else f"; {z['seconds'] / disk['seconds']:.2f} x the plain files")),
        _row("the same bytes as plain files", disk, "" if "error" in disk else
             f"{disk['bytes_written'] / 1e9:.1f} GB, "
             f"{disk['bytes_written'] / disk['seconds'] / 1e9:.2f} GB/s"),
        _row(f"nystrom_krr N={o['solver_n']} local", s["local"],
             "" if "error" in s["local"] else f"{s['local']['iterations']} iterations"),
        _row(f"nystrom_krr N={o['solver_n']} cluster", cl,
             "" if "error" in cl else f"{cl['iterations']} iterations; workers' peak "
             f"{cl['worker_peak_rss'] / 1e9:.2f} GB each at most"),
    ]
    lines += ["  " + r for r in table(["case", "time", "CPU", "peak RSS", "others", "note"], body,
                                      right={1, 2, 3, 4})]
    if any(_contended(c) for c in (g["reference"], z, disk, s["local"], cl) if "error" not in c):
        lines.append(f"  ! = other processes used more than {BUSY_CPUS} CPUs on average during "
                     "the case: its time is inflated")
    lines += ["", "checks (targets from issue 13)"
              + ("" if results["headline"] else " (--quick sizes: timing checks indicative only)")
              + ":"]
    lines += checks_and_total(results, _fmt_value, "dask section")
    return "\n".join(s.rstrip() for s in lines)
