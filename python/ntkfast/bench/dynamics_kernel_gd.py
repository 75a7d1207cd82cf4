"""The kernel_gd race of the dynamics section of ``ntkfast bench`` (see ``dynamics``): the truth,
ntkfast's default run, the accuracy-matched rk4 step of the numpy reference (``largest_rk4_steps``)
and its timing, the same race with only t_end requested, and one right-hand side's kernel product
against the bandwidth floor."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np

from .dynamics_setup import (ACCURACY, LOOSER, N_FEATURES, SEED, TIGHT, Options, default_rk4_step,
                             fmt_error, kernel_problem, relative_error, request_times, run_info, solve,
                             stage_logger, timed, timed_product)
from .reporting import fmt_s
from .timing import Timing, best_cell

STEP_BRACKET = 1.06  # rk4 search: stop when the passing and failing step counts are this close
MAX_SEARCH_RUNS = 16
PRODUCT_ROUNDS = 5  # kernel product, numpy product and bandwidth probe: interleaved rounds


def largest_rk4_steps(error_of: Callable[[int], float], start: int, tol: float = ACCURACY,
                      bracket: float = STEP_BRACKET, max_runs: int = MAX_SEARCH_RUNS):
    """The fewest equal steps n (dt = t_end / n) with error_of(n) <= tol, searched from ``start``.

    Doubles n until a run passes (halves it while runs pass, if the start already does), then
    narrows [fails, passes] by interpolating log(error) against log(n) (RK4's error ~ n^-4),
    guarded so each probe cuts the bracket by at least a fifth. Returns (n, trials) with trials
    a list of (n, error); n is None when no tried count passed within max_runs.
    """
    trials = []

    def probe(n):
        e = error_of(n)
        trials.append((n, e))
        return e

    n = max(1, int(start))
    e = probe(n)
    lo = hi = None  # lo: largest failing n seen, hi: smallest passing n seen
    if e <= tol:
        hi = n
        while n > 1 and len(trials) < max_runs:
            n = max(1, n // 2)
            if probe(n) <= tol:
                hi = n
            else:
                lo = n
                break
        if lo is None:
            return hi, trials
    else:
        lo = n
        while len(trials) < max_runs:
            n *= 2
            if probe(n) <= tol:
                hi = n
                break
            lo = n
        if hi is None:
            return None, trials
    err = dict(trials)
    while hi / lo > bracket and hi - lo > 1 and len(trials) < max_runs:
        e_lo, e_hi = err[lo], err[hi]
        guess = None
        if math.isfinite(e_lo) and e_lo > tol and 0 < e_hi < e_lo:
            slope = (math.log(e_lo) - math.log(e_hi)) / (math.log(hi) - math.log(lo))
            guess = lo * (e_lo / tol) ** (1.0 / slope) * 1.01  # a hair past the crossing
        if guess is None or not math.isfinite(guess):
            guess = math.sqrt(lo * hi)
        # keep at least a fifth of the (log) bracket on each side
        a, b = math.log(lo), math.log(hi)
        g = min(max(math.log(guess), a + 0.2 * (b - a)), b - 0.2 * (b - a))
        n = min(max(int(round(math.exp(g))), lo + 1), hi - 1)
        e = probe(n)
        err[n] = e
        if e <= tol:
            hi = n
        else:
            lo = n
    return hi, trials


@dataclass
class Solver:
    """One kernel_gd run in the table."""

    label: str
    setting: str
    timing: Timing
    error: Optional[float] = None  # relative to the truth
    n_rhs: Optional[int] = None
    n_steps: Optional[int] = None
    n_rejected: Optional[int] = None
    dt: Optional[float] = None


def kernel_section(opts: Options, progress, started) -> dict:
    """The race's results (JSON-ready but for numpy scalars and infinities)."""
    import ntkfast
    from ntkfast import _core, reference
    from ntkfast._threads import resolve_n_threads

    say = stage_logger(progress, started)

    # The bare core calls below get their count through the same cap and fork guard as the API.
    threads = resolve_n_threads(opts.threads)
    ts = request_times(opts)
    say(f"kernel_gd problem: ntk of ({opts.n}, {N_FEATURES}), depth {opts.depth}")
    k, y = kernel_problem(opts.n, opts.n_out, opts.depth, opts.threads)
    out = {"n": opts.n, "n_out": opts.n_out, "t": ts.tolist(), "depth": opts.depth,
           "kernel_bytes": int(k.nbytes), "default_rk4_dt": default_rk4_step(k),
           "solvers": [], "search": [], "notes": []}
    ce = dict(loss="cross_entropy")
    fast_kw = dict(ce, n_threads=opts.threads)

    # truth, and a looser run to show how close the truth is to the exact flow
    say(f"truth: ntkfast.kernel_gd dopri5 rtol={TIGHT['rtol']:g} atol={TIGHT['atol']:g}...")
    t0 = time.perf_counter()
    try:
        truth = ntkfast.kernel_gd(k, y, ts, rtol=TIGHT["rtol"], atol=TIGHT["atol"], **fast_kw)
    except Exception as exc:
        out["notes"].append(f"truth failed: {type(exc).__name__}: {exc}")
        truth = None
    out["truth"] = {"seconds": time.perf_counter() - t0, **TIGHT,
                    **(run_info(truth) if truth is not None else {})}
    f_true = truth.f_train if truth is not None else None
    if truth is not None:
        looser = solve(ntkfast.kernel_gd, k, y, ts, rtol=LOOSER["rtol"], atol=LOOSER["atol"], **fast_kw)
        out["truth"]["looser"] = dict(LOOSER, error=relative_error(
            None if looser is None else looser.f_train, f_true))
        del looser

    # ntkfast at its defaults
    say("ntkfast.kernel_gd dopri5 at its default tolerances...")
    box = {}
    cell = timed(lambda: ntkfast.kernel_gd(k, y, ts, **fast_kw), opts, box)
    res = box.pop("out", None)
    fast = Solver("ntkfast.kernel_gd", "dopri5, default rtol/atol", cell,
                  relative_error(None if res is None else res.f_train, f_true) if f_true is not None else None,
                  **(run_info(res) if res is not None else {}))
    out["solvers"].append(fast)
    say(f"  {fmt_s(cell)}, error {fmt_error(fast.error)}, RHS {fast.n_rhs}")
    del res

    if opts.reference and f_true is not None:
        # the largest rk4 step reaching ACCURACY: searched with the C++ rk4, confirmed on numpy
        def rk4_error(solver, label, heading, kw):
            """error(n): the error of `solver`'s rk4 with n steps over [0, t_end], recorded."""
            def error(n):
                r = solve(solver, k, y, ts, method="rk4", dt=opts.t_end / n, **kw)
                e = relative_error(None if r is None else r.f_train, f_true)
                out["search"].append({"solver": label, "steps": n, "dt": opts.t_end / n, "error": e})
                say(f"  {heading}: {n} steps (dt {opts.t_end / n:.4g}): error {fmt_error(e)}")
                return e
            return error

        fast_rk4_error = rk4_error(ntkfast.kernel_gd, "ntkfast rk4", "rk4 search", fast_kw)
        ref_rk4_error = rk4_error(reference.kernel_gd, "reference rk4", "rk4 search (reference)", ce)

        def time_reference(n):
            dt = opts.t_end / n
            say(f"timing reference.kernel_gd rk4 at dt {dt:.4g} ({n} steps)...")
            box = {}
            cell = timed(lambda: reference.kernel_gd(k, y, ts, method="rk4", dt=dt, **ce),
                          opts, box)
            res = box.pop("out", None)
            return Solver("reference.kernel_gd", f"rk4, dt = t_end/{n} = {dt:.4g}", cell,
                          relative_error(None if res is None else res.f_train, f_true),
                          **(run_info(res) if res is not None else {}), dt=dt)

        # start a few doublings below the stability-limited default step
        start = max(4, int(opts.t_end / out["default_rk4_dt"]) // 8)
        say(f"searching the largest rk4 step with error <= {ACCURACY:g} (untimed runs)...")
        n_steps, _ = largest_rk4_steps(fast_rk4_error, start)
        ref = time_reference(n_steps) if n_steps is not None else None
        if ref is None or (ref.timing.known and ref.error > ACCURACY):
            # the C++ rk4 failed, or numpy's rk4 misses where it passed: search on numpy itself
            out["notes"].append("rk4 step searched again on the numpy reference: the C++ rk4 "
                                + ("failed" if ref is None else
                                   f"passed at {n_steps} steps where numpy's error was {fmt_error(ref.error)}"))
            n_steps, _ = largest_rk4_steps(ref_rk4_error, n_steps or start)
            ref = time_reference(n_steps) if n_steps is not None else Solver(
                "reference.kernel_gd", f"rk4: no step reached {ACCURACY:g}",
                Timing("error", note="step search failed"))
        out["solvers"].append(ref)
        say(f"  {fmt_s(ref.timing)}, error {fmt_error(ref.error)}")

        out["endpoint"] = _endpoint_comparison(k, y, f_true[-1:], opts, fast_kw, ce, say, start)

        say("reference.kernel_gd dopri5 at the default tolerances (information)...")
        box = {}
        cell = timed(lambda: reference.kernel_gd(k, y, ts, **ce), opts, box, repeat=1)
        res = box.pop("out", None)
        out["solvers"].append(Solver(
            "reference.kernel_gd", "dopri5, default rtol/atol", cell,
            relative_error(None if res is None else res.f_train, f_true),
            **(run_info(res) if res is not None else {})))
        del res
    elif not opts.reference:
        out["solvers"].append(Solver("reference.kernel_gd", "rk4", Timing("off")))

    # one right-hand side: the kernel product alone against the bandwidth floor
    say("kernel product and streaming bandwidth...")
    rng = np.random.default_rng(SEED + 1)
    d = np.ascontiguousarray(rng.dirichlet(np.ones(opts.n_out), size=opts.n) - y)
    prod = np.empty_like(d)
    # Interleaved rounds: on a shared machine the load changes by the second, so the product and
    # the bandwidth probe are each taken at their best over the same stretch of time.
    per_round = max(opts.product_repeat // PRODUCT_ROUNDS, 2)
    mv, npmv, bws = [], [], []
    for _ in range(PRODUCT_ROUNDS):
        mv.append(timed_product(lambda: _core.kernel_matvec(k, d, prod, threads), per_round))
        npmv.append(timed_product(lambda: np.matmul(k, d, out=prod), per_round))
        try:
            bws.append(float(_core.read_bandwidth(int(k.nbytes), threads, per_round)))
        except Exception as exc:
            out["notes"].append(f"read_bandwidth failed: {type(exc).__name__}: {exc}")
            break
    out["matvec"], out["numpy_matvec"] = best_cell(mv), best_cell(npmv)
    out["bandwidth"] = max(bws) if bws else None
    out["floor_seconds"] = k.nbytes / out["bandwidth"] if bws else None
    out["solvers"] = [asdict(s) for s in out["solvers"]]
    return out


def _endpoint_comparison(k, y, f_end, opts: Options, fast_kw: dict, ce: dict, say, start: int) -> dict:
    """The same race with t_end as the only requested time. RK4's early errors then damp out
    before anything is measured, so it gets away with far fewer steps than when the trajectory
    is requested too; an adaptive method cannot know that and keeps its local error small."""
    import ntkfast
    from ntkfast import reference

    ts = np.array([opts.t_end])
    say("endpoint only: ntkfast.kernel_gd at its default tolerances...")
    box = {}
    cell = timed(lambda: ntkfast.kernel_gd(k, y, ts, **fast_kw), opts, box)
    res = box.pop("out", None)
    fast = Solver("ntkfast.kernel_gd", "dopri5, default rtol/atol", cell,
                  relative_error(None if res is None else res.f_train, f_end),
                  **(run_info(res) if res is not None else {}))

    def rk4_error(n):
        r = solve(ntkfast.kernel_gd, k, y, ts, method="rk4", dt=opts.t_end / n, **fast_kw)
        return relative_error(None if r is None else r.f_train, f_end)

    n_steps, _ = largest_rk4_steps(rk4_error, max(2, start // 4))
    solvers = [fast]
    if n_steps is not None:
        dt = opts.t_end / n_steps
        say(f"endpoint only: timing reference.kernel_gd rk4 at dt {dt:.4g} ({n_steps} steps)...")
        box = {}
        cell = timed(lambda: reference.kernel_gd(k, y, ts, method="rk4", dt=dt, **ce), opts, box)
        res = box.pop("out", None)
        solvers.append(Solver("reference.kernel_gd", f"rk4, dt = t_end/{n_steps} = {dt:.4g}", cell,
                              relative_error(None if res is None else res.f_train, f_end),
                              **(run_info(res) if res is not None else {}), dt=dt))
    return {"t": ts.tolist(), "solvers": [asdict(v) for v in solvers]}
