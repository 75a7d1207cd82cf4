"""The regression section of ``ntkfast bench`` (issue 12, part 4): Nyström kernel ridge regression
with Falkon's preconditioned CG (ntkfast.nystrom_krr, its default preconditioner sample) at large N.

Cases (headline): the depth-3 ReLU NTK, float64, d = 16, M = 2000 centers, ridge 1,
tol 1e-7, default preconditioner_points, on a smooth teacher plus noise (regression_case):
  - N = 1 000 000, fit then predict 100 000 test points: fit time, CG iterations, the time of one
    K(X, C) pass measured in the same process, fit / ((iterations + 3) × pass) (target <= 1: the
    fit costs one pass per iteration plus the right-hand side, little else), prediction time,
    peak resident memory (target <= 2 GB: K(X, C) (16 GB) is recomputed in row blocks, never
    stored) and the whole case's time (target <= 10 minutes), test MSE against the teacher;
  - N = 100 000, the same (K(X, C), 1.6 GB, fits the default memory budget and is kept): fit
    time (target <= 1 minute).
``--quick``: N = 20 000 (K(X, C) recomputed every pass, as at the headline size) and 5 000,
5 000 test points, M = 500: a smoke run of seconds whose timing checks are indicative only. Each case runs in a fresh subprocess (its peak memory is
its own); one untimed run each (at these sizes a repeat would double a long run), so other
processes on the machine inflate the figures ("!" when they used more than a quarter CPU).
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from typing import Optional

from .machine import load_line, loadavg, machine_info, machine_lines
from .regression_case import TEACHER_WIDTH, measure
from .reporting import check_adder, checks_and_total, table
from .timing import BUSY_CPUS, busy_seconds, others_cpus, own_and_children_seconds

HEADLINE = dict(sizes=(1_000_000, 100_000), n_test=100_000, n_centers=2000)
# --quick: the first case's K(X, C) (80 MB) is recomputed every pass as at the headline size
QUICK = dict(sizes=(20_000, 5_000), n_test=5_000, n_centers=500, first_budget=16 << 20)
# Targets from the issue (item: Nyström benchmark)
PASS_RATIO = 1.0        # fit / ((iterations + 3) x one K(X, C) pass)
PEAK_RSS = 2e9          # bytes, the largest case
CASE_SECONDS = 600.0    # the largest case, fit + pass + predict
MID_FIT_SECONDS = 60.0  # the second case's fit


@dataclass
class Options:
    sizes: tuple = HEADLINE["sizes"]
    n_test: int = HEADLINE["n_test"]
    n_centers: int = HEADLINE["n_centers"]
    d: int = 16
    depth: int = 3
    ridge: float = 1.0
    noise: float = 0.5
    tol: float = 1e-7
    maxiter: int = 100
    first_budget: Optional[int] = None  # memory_budget of the first case (None: the default)
    threads: Optional[int] = None
    quick: bool = False

    @property
    def headline(self) -> bool:
        return all(getattr(self, k) == v for k, v in HEADLINE.items()) and self.d == 16 \
            and self.depth == 3


def options(quick: bool = False, **overrides) -> Options:
    """The full or quick profile, with the given fields (not None) replacing its values."""
    base = dict(QUICK) if quick else {}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Options(quick=quick, **base)


def run(opts: Options, progress=None) -> dict:
    if progress is None:
        progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    busy0, own0 = busy_seconds(), own_and_children_seconds()  # each case runs in a subprocess
    info = machine_info(opts.threads)
    cases = []
    for i, n in enumerate(opts.sizes):
        n_test = opts.n_test if i == 0 else 0
        progress(f"regression: nystrom_krr N={n} M={opts.n_centers} "
                 f"({time.perf_counter() - started:.0f} s)")
        spec = dict(n=n, n_test=max(n_test, 1000), d=opts.d, depth=opts.depth, ridge=opts.ridge,
                    noise=opts.noise, n_centers=opts.n_centers, tol=opts.tol,
                    maxiter=opts.maxiter, threads=info["ntkfast_threads"],
                    memory_budget=opts.first_budget if i == 0 else None)
        cases.append({"spec": spec, **measure(spec)})
    total = time.perf_counter() - started
    results = {
        "machine": info, "options": asdict(opts), "headline": opts.headline, "cases": cases,
        "total_seconds": total,
        "others_cpus_during_run": others_cpus(busy0, own0, busy_seconds(), own_and_children_seconds(),
                                             total),
        "load_average_at_end": loadavg(),
    }
    results["checks"] = checks(results)
    return results


def _contended(case) -> bool:
    return case.get("others_cpus") is not None and case["others_cpus"] > BUSY_CPUS


class _Cell:  # what check_adder reads of a timing cell
    def __init__(self, case):
        self.contended = _contended(case)


def checks(results: dict) -> list[dict]:
    out = []
    add = check_adder(out, results["headline"], "quick sizes: target is for the headline")
    cases = [c for c in results["cases"] if "error" not in c]
    if cases and cases[0] is results["cases"][0]:
        big = cases[0]
        n = big["spec"]["n"]
        ratio = big["fit_seconds"] / ((big["iterations"] + 3) * big["pass_seconds"])
        add(f"N={n}: fit / ((iterations + 3) x K(X, C) pass)", ratio, f"<= {PASS_RATIO:g}",
            ratio <= PASS_RATIO, f"{big['iterations']} iterations", (_Cell(big),), fmt="x")
        add(f"N={n}: peak resident memory", big["peak_rss"] / 1e9, f"<= {PEAK_RSS / 1e9:g} GB",
            big["peak_rss"] <= PEAK_RSS, fmt="GB")
        add(f"N={n}: fit + one pass + predict", big["seconds"], f"<= {CASE_SECONDS:.0f} s",
            big["seconds"] <= CASE_SECONDS, cells=(_Cell(big),), fmt="s")
        add(f"N={n}: CG converged to tol", big["residual"], f"<= {big['spec']['tol']:g}",
            big["converged"], fmt="e", sized=False)
    for c in cases[1:]:
        add(f"N={c['spec']['n']}: fit", c["fit_seconds"], f"<= {MID_FIT_SECONDS:.0f} s",
            c["fit_seconds"] <= MID_FIT_SECONDS, cells=(_Cell(c),), fmt="s")
    return out


def _fmt_value(c) -> str:
    v = c["value"]
    if v is None:
        return "-"
    return {"x": f"{v:.2f}", "GB": f"{v:.2f} GB", "s": f"{v:.0f} s"}.get(c["format"], f"{v:.2e}")


def report(results: dict) -> str:
    m, o = results["machine"], results["options"]
    lines = [
        "ntkfast bench: kernel ridge regression at large N (nystrom_krr: Nyström + Falkon's "
        "preconditioned CG)" + (" --quick" if o["quick"] else ""),
        *machine_lines(m),
        load_line(m, results),
        f"problem: x (N, {o['d']}) standard normal; y = teacher + noise, the teacher a tanh "
        f"network of {TEACHER_WIDTH} units, noise std {o['noise']:g} x the teacher's; depth-"
        f"{o['depth']} ReLU NTK, float64; M = {o['n_centers']} uniform centers; ridge "
        f"{o['ridge']:g} (kernel_gd_mse's convention); tol {o['tol']:g}",
        "each case one run in a fresh subprocess; pass = one separate K(X, C) pass (kernel "
        "calls alone) in the same process; ratio = fit / ((iterations + 3) x pass)",
        "",
    ]
    header = ["N", "K(X,C)", "fit", "iterations", "passes", "pass", "ratio", "predict",
              "n_test", "peak RSS", "test MSE", "teacher var"]
    body = []
    for c in results["cases"]:
        s = c["spec"]
        if "error" in c:
            body.append([str(s["n"]), "", "error", "", "", "", "", "", "", "", "", ""])
            continue
        mark = "!" if _contended(c) else ""
        ratio = c["fit_seconds"] / ((c["iterations"] + 3) * c["pass_seconds"])
        body.append([f"{s['n']:,}", "kept" if c["kept_in_memory"] else "recomputed",
                     f"{c['fit_seconds']:.1f} s{mark}", str(c["iterations"]),
                     str(c["kernel_passes"]), f"{c['pass_seconds']:.2f} s{mark}", f"{ratio:.2f}",
                     f"{c['predict_seconds']:.2f} s{mark}", f"{s['n_test']:,}",
                     f"{c['peak_rss'] / 1e9:.2f} GB", f"{c['test_mse']:.4g}",
                     f"{c['teacher_variance']:.4g}"])
    lines += ["  " + r for r in table(header, body, right=set(range(2, 12)))]
    for c in results["cases"]:
        if "error" in c:
            lines.append(f"  error: N={c['spec']['n']}: {c['error']}")
    if any(_contended(c) for c in results["cases"] if "error" not in c):
        lines.append(f"  ! = other processes used more than {BUSY_CPUS} CPUs on average during "
                     "the case: its times are inflated")
    lines += ["", "checks (targets from issue 12, part 4: N = 1e6 and 1e5, d = 16, M = 2000"
              + ("" if results["headline"] else "; --quick sizes: timing checks indicative only")
              + "):"]
    lines += checks_and_total(results, _fmt_value, "regression section")
    return "\n".join(s.rstrip() for s in lines)
