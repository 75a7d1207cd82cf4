"""The dynamics section of ``ntkfast bench`` (issue 4, item 9): kernel gradient descent and
finite-network training, each beside the numpy reference and a hardware floor, in one process.

kernel_gd (headline: N = 4000, O = 10 classes, t = 1000)
  K = ntkfast.ntk(x, depth=3, activation="relu") of x (N, 32) standard normal; y one-hot of the
  argmax of a random linear teacher x @ W (W (32, O) standard normal); f0 = 0; cross-entropy;
  outputs at t = t_end * (0, 0.01, 0.1, 1), no test points.
  - truth: ntkfast.kernel_gd, dopri5 at rtol=1e-12, atol=1e-14 (its distance to a run at
    rtol=1e-10, atol=1e-12 is printed: an upper bound of its own error, roughly);
  - error of a run = max |f - f_truth| / max |f_truth| over all requested times (training outputs);
  - ntkfast.kernel_gd at its default tolerances: error and time;
  - ntkfast.reference.kernel_gd(method="rk4", dt): the largest step that reaches the same accuracy
    (ACCURACY), found by untimed runs of the C++ rk4 (same algorithm, step placement and weights as
    the reference; far cheaper): the number of steps is doubled until the error is small enough,
    then the bracket is narrowed by interpolating log(error) against log(steps) (RK4: error ~ dt^4)
    until it is within STEP_BRACKET. The reference's own error at that step is measured too, and
    the search continues on the reference if it misses. Then the reference is timed at that step;
    the headline ratio is its time over ntkfast's default run.
  - per right-hand side: _core.kernel_matvec (the product K @ D alone, D (N, O)) against the
    bandwidth floor, bytes of K / streaming read bandwidth of _core.read_bandwidth over a buffer
    of K's size (so both run in the same level of the memory hierarchy); numpy's K @ D beside it.
    The three are measured in PRODUCT_ROUNDS interleaved rounds; each figure is its best round.
  The reference dopri5 at the default tolerances is timed too (information, one timed call after
  the warm-up: it shows how much of the speedup is the algorithm and how much the implementation).
  The truth comes from ntkfast itself; the numpy rk4's agreement with it is the independent check.

train (headline: widths [32, 1024, 1024, 1], relu, N = 1024, 100 steps, float32)
  ntkfast.init_mlp(seed 0, NTK parameterization), x (N, 32) standard normal, y (N,) standard
  normal targets, MSE, lr = TRAIN_LR, record_every default, no test points, progress off.
  - ntkfast.train vs ntkfast.reference.train;
  - BLAS floor: numpy float32 time of the step's matrix products alone, each into a preallocated
    output (per layer l: forward a_l @ W_l^T, backward delta_{l+1} @ W_l for l > 0, gradient
    delta_{l+1}^T @ a_l), each the best of many calls, summed, times the number of steps.

Timing as in ``_bench``: one untimed warm-up call, then the best of up to ``repeat`` calls (stopping
after ``max_time`` seconds of timed calls), "!" where other processes used more than a quarter of a
CPU meanwhile. The machine's other load inflates every cell; ratios of cells timed minutes apart
carry that noise.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np

from . import _bench as B
from ._bench import Timing

N_FEATURES = 32
SEED = 0
ACTIVATION = "relu"
ACCURACY = 1e-6  # relative error the default kernel_gd and the reference rk4 must reach
TIGHT = dict(rtol=1e-12, atol=1e-14)  # the truth
LOOSER = dict(rtol=1e-10, atol=1e-12)  # its distance to the truth bounds the truth's error
TIME_FRACTIONS = (0.0, 0.01, 0.1, 1.0)  # requested times, as fractions of t_end
STEP_BRACKET = 1.06  # rk4 search: stop when the passing and failing step counts are this close
MAX_SEARCH_RUNS = 16
PRODUCT_ROUNDS = 5  # kernel product, numpy product and bandwidth probe: interleaved rounds
TRAIN_LR = 1.0  # well below the NTK bound 2N / lambda_max(Theta) (about 10 here)
HEADLINE = dict(n=4000, n_out=10, t_end=1000.0, train_n=1024, train_steps=100)
QUICK = dict(n=1000, t_end=100.0, train_n=256, train_steps=20)


@dataclass
class Options:
    n: int = HEADLINE["n"]
    n_out: int = HEADLINE["n_out"]
    t_end: float = HEADLINE["t_end"]
    depth: int = 3
    train_widths: tuple = (N_FEATURES, 1024, 1024, 1)
    train_n: int = HEADLINE["train_n"]
    train_steps: int = HEADLINE["train_steps"]
    train_dtype: str = "float32"
    repeat: int = 3
    max_time: float = 20.0  # seconds of timed calls per cell before best-of stops early
    product_repeat: int = 30  # best of this many for a single kernel product / GEMM
    threads: Optional[int] = None
    reference: bool = True
    quick: bool = False

    @property
    def headline(self) -> bool:
        return all(getattr(self, k) == v for k, v in HEADLINE.items()) \
            and tuple(self.train_widths) == (N_FEATURES, 1024, 1024, 1) \
            and self.train_dtype == "float32" and self.depth == 3


def options(quick: bool = False, **overrides) -> Options:
    """The full or quick profile, with the given fields (not None) replacing its values."""
    base = dict(QUICK) if quick else {}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Options(quick=quick, **base)


def _times(opts: Options) -> np.ndarray:
    return np.array([f * opts.t_end for f in TIME_FRACTIONS])


# ---------------------------------------------------------------- problems

def kernel_problem(n: int, n_out: int, depth: int = 3, threads=None):
    """(K, y): the NTK of n standard-normal points and one-hot labels of a linear teacher."""
    import ntkfast

    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((n, N_FEATURES))
    teacher = rng.standard_normal((N_FEATURES, n_out))
    k = ntkfast.ntk(x, depth=depth, activation=ACTIVATION, n_threads=threads)
    y = np.zeros((n, n_out))
    y[np.arange(n), np.argmax(x @ teacher, axis=1)] = 1.0
    return np.ascontiguousarray(k), y


def train_problem(widths, n: int, dtype: str):
    """(net, x, y): the network at initialization, inputs and (n,) random targets."""
    import ntkfast

    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((n, widths[0]))
    y = rng.standard_normal(n) if widths[-1] == 1 else rng.standard_normal((n, widths[-1]))
    net = ntkfast.init_mlp(list(widths), activation=ACTIVATION, parameterization="ntk", seed=SEED,
                           dtype=dtype)
    return net, x, y


def relative_error(f, truth) -> float:
    """max |f - truth| / max |truth|; inf for a failed or non-finite run."""
    if f is None:
        return math.inf
    f, truth = np.asarray(f, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if f.shape != truth.shape or not np.all(np.isfinite(f)):
        return math.inf
    scale = np.abs(truth).max()
    return float(np.abs(f - truth).max() / scale) if scale > 0 else float(np.abs(f - truth).max())


def default_rk4_step(k: np.ndarray) -> float:
    """The spec's default rk4 step: N / max_i sum_j |K_ij| (<= N / lambda_max)."""
    return k.shape[0] / float(np.abs(k).sum(axis=1).max())


# ---------------------------------------------------------------- timing helpers

def _keeping(fn: Callable[[], object], box: dict) -> Callable[[], None]:
    """fn, storing its last result in box["out"]."""
    def call():
        box.pop("out", None)
        box["out"] = fn()
    return call


def _timed(fn: Callable[[], object], opts: Options, box: dict, repeat=None) -> Timing:
    """B._time of fn (kept in box["out"]); an exception becomes an "error" cell."""
    try:
        return B._time(_keeping(fn, box), opts.repeat if repeat is None else repeat, opts.max_time)
    except Exception as exc:  # one implementation failing must not lose the rest of the report
        return Timing("error", note=f"{type(exc).__name__}: {exc}")


def _run_info(res) -> dict:
    return {k: int(getattr(res, k)) for k in ("n_rhs", "n_steps", "n_rejected")
            if getattr(res, k, None) is not None}


def _solve(fn, *args, **kwargs):
    """fn(*args, **kwargs), or None when it fails (a step beyond stability overflows)."""
    try:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    except Exception:
        return None


# ---------------------------------------------------------------- rk4 step search

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


# ---------------------------------------------------------------- kernel_gd section

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


def _kernel_section(opts: Options, progress, started) -> dict:
    import ntkfast
    from ntkfast import _core, reference

    def say(msg):
        progress(f"[dynamics, {time.perf_counter() - started:.0f} s] {msg}")

    threads = ntkfast.get_num_threads() if opts.threads is None else opts.threads
    ts = _times(opts)
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
                    **(_run_info(truth) if truth is not None else {})}
    f_true = truth.f_train if truth is not None else None
    if truth is not None:
        looser = _solve(ntkfast.kernel_gd, k, y, ts, rtol=LOOSER["rtol"], atol=LOOSER["atol"], **fast_kw)
        out["truth"]["looser"] = dict(LOOSER, error=relative_error(
            None if looser is None else looser.f_train, f_true))
        del looser

    # ntkfast at its defaults
    say("ntkfast.kernel_gd dopri5 at its default tolerances...")
    box = {}
    cell = _timed(lambda: ntkfast.kernel_gd(k, y, ts, **fast_kw), opts, box)
    res = box.pop("out", None)
    fast = Solver("ntkfast.kernel_gd", "dopri5, default rtol/atol", cell,
                  relative_error(None if res is None else res.f_train, f_true) if f_true is not None else None,
                  **(_run_info(res) if res is not None else {}))
    out["solvers"].append(fast)
    say(f"  {B._fmt_s(cell)}, error {_e(fast.error)}, RHS {fast.n_rhs}")
    del res

    if opts.reference and f_true is not None:
        # the largest rk4 step reaching ACCURACY: searched with the C++ rk4, confirmed on numpy
        def rk4_error(solver, label, heading, kw):
            """error(n): the error of `solver`'s rk4 with n steps over [0, t_end], recorded."""
            def error(n):
                r = _solve(solver, k, y, ts, method="rk4", dt=opts.t_end / n, **kw)
                e = relative_error(None if r is None else r.f_train, f_true)
                out["search"].append({"solver": label, "steps": n, "dt": opts.t_end / n, "error": e})
                say(f"  {heading}: {n} steps (dt {opts.t_end / n:.4g}): error {_e(e)}")
                return e
            return error

        fast_rk4_error = rk4_error(ntkfast.kernel_gd, "ntkfast rk4", "rk4 search", fast_kw)
        ref_rk4_error = rk4_error(reference.kernel_gd, "reference rk4", "rk4 search (reference)", ce)

        def time_reference(n):
            dt = opts.t_end / n
            say(f"timing reference.kernel_gd rk4 at dt {dt:.4g} ({n} steps)...")
            box = {}
            cell = _timed(lambda: reference.kernel_gd(k, y, ts, method="rk4", dt=dt, **ce),
                          opts, box)
            res = box.pop("out", None)
            return Solver("reference.kernel_gd", f"rk4, dt = t_end/{n} = {dt:.4g}", cell,
                          relative_error(None if res is None else res.f_train, f_true),
                          **(_run_info(res) if res is not None else {}), dt=dt)

        # start a few doublings below the stability-limited default step
        start = max(4, int(opts.t_end / out["default_rk4_dt"]) // 8)
        say(f"searching the largest rk4 step with error <= {ACCURACY:g} (untimed runs)...")
        n_steps, _ = largest_rk4_steps(fast_rk4_error, start)
        ref = time_reference(n_steps) if n_steps is not None else None
        if ref is None or (ref.timing.known and ref.error > ACCURACY):
            # the C++ rk4 failed, or numpy's rk4 misses where it passed: search on numpy itself
            out["notes"].append("rk4 step searched again on the numpy reference: the C++ rk4 "
                                + ("failed" if ref is None else
                                   f"passed at {n_steps} steps where numpy's error was {_e(ref.error)}"))
            n_steps, _ = largest_rk4_steps(ref_rk4_error, n_steps or start)
            ref = time_reference(n_steps) if n_steps is not None else Solver(
                "reference.kernel_gd", f"rk4: no step reached {ACCURACY:g}",
                Timing("error", note="step search failed"))
        out["solvers"].append(ref)
        say(f"  {B._fmt_s(ref.timing)}, error {_e(ref.error)}")

        out["endpoint"] = _endpoint_comparison(k, y, f_true[-1:], opts, fast_kw, ce, say, start)

        say("reference.kernel_gd dopri5 at the default tolerances (information)...")
        box = {}
        cell = _timed(lambda: reference.kernel_gd(k, y, ts, **ce), opts, box, repeat=1)
        res = box.pop("out", None)
        out["solvers"].append(Solver(
            "reference.kernel_gd", "dopri5, default rtol/atol", cell,
            relative_error(None if res is None else res.f_train, f_true),
            **(_run_info(res) if res is not None else {})))
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
        mv.append(_timed_product(lambda: _core.kernel_matvec(k, d, prod, threads), per_round))
        npmv.append(_timed_product(lambda: np.matmul(k, d, out=prod), per_round))
        try:
            bws.append(float(_core.read_bandwidth(int(k.nbytes), threads, per_round)))
        except Exception as exc:
            out["notes"].append(f"read_bandwidth failed: {type(exc).__name__}: {exc}")
            break
    out["matvec"], out["numpy_matvec"] = _best(mv), _best(npmv)
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
    cell = _timed(lambda: ntkfast.kernel_gd(k, y, ts, **fast_kw), opts, box)
    res = box.pop("out", None)
    fast = Solver("ntkfast.kernel_gd", "dopri5, default rtol/atol", cell,
                  relative_error(None if res is None else res.f_train, f_end),
                  **(_run_info(res) if res is not None else {}))

    def rk4_error(n):
        r = _solve(ntkfast.kernel_gd, k, y, ts, method="rk4", dt=opts.t_end / n, **fast_kw)
        return relative_error(None if r is None else r.f_train, f_end)

    n_steps, _ = largest_rk4_steps(rk4_error, max(2, start // 4))
    solvers = [fast]
    if n_steps is not None:
        dt = opts.t_end / n_steps
        say(f"endpoint only: timing reference.kernel_gd rk4 at dt {dt:.4g} ({n_steps} steps)...")
        box = {}
        cell = _timed(lambda: reference.kernel_gd(k, y, ts, method="rk4", dt=dt, **ce), opts, box)
        res = box.pop("out", None)
        solvers.append(Solver("reference.kernel_gd", f"rk4, dt = t_end/{n_steps} = {dt:.4g}", cell,
                              relative_error(None if res is None else res.f_train, f_end),
                              **(_run_info(res) if res is not None else {}), dt=dt))
    return {"t": ts.tolist(), "solvers": [asdict(v) for v in solvers]}


def _best(cells: list) -> Timing:
    """The fastest of several cells of one measurement; contention = the worst round's."""
    known = [c for c in cells if c.known]
    if not known:
        return cells[0]
    best = min(known, key=lambda c: c.seconds)
    others = [c.others_cpus for c in known if c.others_cpus is not None]
    return Timing("measured", best.seconds, sum(c.runs for c in known),
                  [t for c in known for t in c.all_seconds], others_cpus=max(others) if others else None)


def _timed_product(fn, repeat: int) -> Timing:
    try:
        return B._time(fn, repeat, max_time=5.0)
    except Exception as exc:
        return Timing("error", note=f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------- train section

def floor_products(net, x: np.ndarray):
    """[(label, call)]: numpy's matrix products of one gradient-descent step, each writing into a
    preallocated array, on activations and deltas of the right shapes and dtype."""
    from ._mlp import checked

    cn = checked(net)
    dt = cn.dtype
    n = x.shape[0]
    widths = cn.widths
    rng = np.random.default_rng(SEED + 2)
    a = [np.ascontiguousarray(x, dtype=dt)] + [
        np.abs(rng.standard_normal((n, w))).astype(dt) for w in widths[1:-1]]  # relu outputs
    delta = [None] + [rng.standard_normal((n, w)).astype(dt) for w in widths[1:]]
    W = [np.asarray(w) for w in cn.weights]
    calls = []
    for l in range(cn.depth):
        z = np.empty((n, widths[l + 1]), dtype=dt)
        calls.append((f"forward a{l} @ W{l}^T ({n}x{widths[l]} @ {widths[l]}x{widths[l + 1]})",
                      lambda a=a[l], w=W[l], z=z: np.matmul(a, w.T, out=z)))
        if l > 0:
            g = np.empty((n, widths[l]), dtype=dt)
            calls.append((f"backward d{l + 1} @ W{l} ({n}x{widths[l + 1]} @ {widths[l + 1]}x{widths[l]})",
                          lambda d=delta[l + 1], w=W[l], g=g: np.matmul(d, w, out=g)))
        gw = np.empty((widths[l + 1], widths[l]), dtype=dt)
        calls.append((f"gradient d{l + 1}^T @ a{l} ({widths[l + 1]}x{n} @ {n}x{widths[l]})",
                      lambda d=delta[l + 1], a=a[l], gw=gw: np.matmul(d.T, a, out=gw)))
    return calls


def _train_section(opts: Options, progress, started) -> dict:
    import ntkfast
    from ntkfast import reference

    def say(msg):
        progress(f"[dynamics, {time.perf_counter() - started:.0f} s] {msg}")

    net, x, y = train_problem(opts.train_widths, opts.train_n, opts.train_dtype)
    kw = dict(lr=TRAIN_LR, steps=opts.train_steps, progress=False)
    out = {"widths": list(opts.train_widths), "n": opts.train_n, "steps": opts.train_steps,
           "dtype": opts.train_dtype, "lr": TRAIN_LR, "n_params": int(net.n_params)}
    say(f"ntkfast.train {list(opts.train_widths)} N={opts.train_n} {opts.train_steps} steps "
        f"{opts.train_dtype}...")
    box = {}
    out["fast"] = _timed(lambda: ntkfast.train(net, x, y, n_threads=opts.threads, **kw), opts, box)
    fast = box.pop("out", None)
    say(f"  {B._fmt_s(out['fast'])}")
    if fast is not None:
        out["final_loss"] = float(np.asarray(fast.loss)[-1])
        out["initial_loss"] = float(np.asarray(fast.loss)[0])
    if opts.reference:
        say("reference.train...")
        box = {}
        out["reference"] = _timed(lambda: reference.train(net, x, y, **kw), opts, box)
        ref = box.pop("out", None)
        say(f"  {B._fmt_s(out['reference'])}")
        out["deviation"] = (relative_error(fast.f_train, ref.f_train)
                            if fast is not None and ref is not None else None)
        del ref
    else:
        out["reference"] = Timing("off")
        out["deviation"] = None
    del fast
    say("BLAS floor: the step's matrix products in numpy...")
    parts = []
    for label, call in floor_products(net, x):
        cell = _timed_product(call, opts.product_repeat)
        parts.append({"product": label, "timing": cell})
    out["floor_parts"] = parts
    if all(p["timing"].known for p in parts):
        per_step = sum(p["timing"].seconds for p in parts)
        contended = max((p["timing"].others_cpus or 0) for p in parts) or None
        out["floor"] = Timing("measured", per_step * opts.train_steps, others_cpus=contended,
                              note="sum of best-of products x steps")
    else:
        out["floor"] = Timing("error", note="a product failed")
    say(f"  floor {B._fmt_s(out['floor'])}")
    for key in ("fast", "reference", "floor"):
        out[key] = asdict(out[key])
    for p in parts:
        p["timing"] = asdict(p["timing"])
    return out


# ---------------------------------------------------------------- running

def run(opts: Options, progress=None) -> dict:
    """Both sections; returns the results dict that :func:`report` prints."""
    if progress is None:
        progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    busy0, own0 = B._busy_seconds(), B._own_seconds()
    info = B.machine_info(B.Options(sizes=(), depths=(), activations=(), dtypes=(), repeat=0,
                                    reference_max_n=0, threads=opts.threads), _NoNT())
    info.pop("neural_tangents", None)
    kernel = _kernel_section(opts, progress, started)
    train = _train_section(opts, progress, started)
    total = time.perf_counter() - started
    others = B._others_cpus(busy0, own0, B._busy_seconds(), B._own_seconds(), total)
    results = {
        "machine": info,
        "options": asdict(opts),
        "headline": opts.headline,
        "kernel_gd": _jsonable(kernel),
        "train": _jsonable(train),
        "total_seconds": total,
        "others_cpus_during_run": others,
        "load_average_at_end": B._loadavg(),
    }
    results["checks"] = checks(results)
    return results


class _NoNT:
    available, version, status = False, None, "off"


def _jsonable(obj):
    """Timings to dicts, numpy scalars to floats, inf/nan to None (strict JSON)."""
    if isinstance(obj, Timing):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# ---------------------------------------------------------------- checks (issue, item 9)

def checks(results: dict) -> list[dict]:
    headline = results["headline"]
    kg, tr = results["kernel_gd"], results["train"]
    out = []
    # sized=False for accuracy checks: they hold at any size
    add = B.check_adder(out, headline, "quick sizes: target is for the headline")

    solvers = {(s["label"], s["setting"].split(",")[0]): s for s in kg["solvers"]}
    fast = solvers.get(("ntkfast.kernel_gd", "dopri5"))
    rk4 = next((s for s in kg["solvers"] if s["setting"].startswith("rk4")), None)
    tag = f"kernel_gd CE N={kg['n']} t={kg['t'][-1]:g}"
    if fast is not None:
        add(f"{tag}: default-tolerance error", fast["error"], f"<= {ACCURACY:g}",
            None if fast["error"] is None else fast["error"] <= ACCURACY, fmt="e", sized=False)
    if rk4 is not None:
        ft, rt = Timing(**fast["timing"]), Timing(**rk4["timing"])
        if ft.known and rt.known:
            v = rt.seconds / ft.seconds
            add(f"{tag}: reference rk4 / ntkfast (same accuracy)", v, ">= 3", v >= 3,
                f"rk4 error {_e(rk4['error'])}", (ft, rt))
        else:
            add(f"{tag}: reference rk4 / ntkfast (same accuracy)", None, ">= 3", None,
                f"reference {rt.status}, ntkfast {ft.status}")
    end = kg.get("endpoint")
    if end is not None and len(end["solvers"]) == 2:
        f_end, r_end = (Timing(**v["timing"]) for v in end["solvers"])
        if f_end.known and r_end.known:
            v = r_end.seconds / f_end.seconds
            add(f"{tag}, t_end only requested: reference rk4 / ntkfast", v, ">= 3", v >= 3,
                f"errors {_e(end['solvers'][0]['error'])} / {_e(end['solvers'][1]['error'])}",
                (f_end, r_end))
    mv = Timing(**kg["matvec"])
    if mv.known and kg.get("floor_seconds"):
        v = mv.seconds / kg["floor_seconds"]
        add(f"kernel product N={kg['n']} O={kg['n_out']}: time / bandwidth floor", v, "<= 1.3",
            v <= 1.3, f"{kg['bandwidth'] / 1e9:.1f} GB/s", (mv,))
    else:
        add(f"kernel product N={kg['n']} O={kg['n_out']}: time / bandwidth floor", None, "<= 1.3",
            None, mv.note or "bandwidth not measured")
    tname = f"train {tr['widths']} N={tr['n']} {tr['steps']} steps {tr['dtype']}"
    ft, rt, fl = Timing(**tr["fast"]), Timing(**tr["reference"]), Timing(**tr["floor"])
    if ft.known and rt.known:
        v = rt.seconds / ft.seconds
        add(f"{tname}: reference / ntkfast", v, ">= 1.5", v >= 1.5, cells=(ft, rt))
    else:
        add(f"{tname}: reference / ntkfast", None, ">= 1.5", None,
            f"ntkfast {ft.status}, reference {rt.status}")
    if ft.known and fl.known:
        v = ft.seconds / fl.seconds
        add(f"{tname}: ntkfast / BLAS floor", v, "<= 1.3", v <= 1.3, cells=(ft, fl))
    else:
        add(f"{tname}: ntkfast / BLAS floor", None, "<= 1.3", None, f"ntkfast {ft.status}")
    if tr.get("deviation") is not None:
        tol = 1e-3 if tr["dtype"] == "float32" else 1e-9
        add(f"{tname}: max |f_ref - f_ntkfast| / max |f_ntkfast|", tr["deviation"], f"<= {tol:g}",
            tr["deviation"] <= tol, fmt="e", sized=False)
    return out


# ---------------------------------------------------------------- formatting

def _e(v) -> str:
    return "-" if v is None else ("inf" if not math.isfinite(v) else f"{v:.1e}")


def _i(v) -> str:
    return "-" if v is None else str(v)


def _ms(cell: Timing) -> str:
    if not cell.known:
        return B._fmt_s(cell)
    return f"{cell.seconds * 1e3:.2f} ms" + ("!" if cell.contended else "")


def _ratio(a: Timing, b: Timing) -> str:
    if not a.known or not b.known:
        return ""
    v = a.seconds / b.seconds
    return (f"{v:.1f}x" if v < 100 else f"{v:.0f}x") + ("!" if a.contended or b.contended else "")


def report(results: dict) -> str:
    m, o, kg, tr = results["machine"], results["options"], results["kernel_gd"], results["train"]
    lines = [
        "ntkfast bench: training dynamics (kernel_gd, train)" + (" --quick" if o["quick"] else ""),
        *B.machine_lines(m),
        f"load average (1, 5, 15 min) at start: {B._fmt_load(m['load_average_at_start'])}; at end: "
        f"{B._fmt_load(results.get('load_average_at_end'))}",
        f"timing: one warm-up call, then best of up to {o['repeat']} (stops after "
        f"{o['max_time']:.0f} s of timed calls); single products best of {o['product_repeat']}",
        "",
        f"kernel_gd, cross-entropy: K = ntk(x, depth={kg['depth']}, relu), x ({kg['n']}, "
        f"{N_FEATURES}) standard normal, seed {SEED}; y one-hot of argmax(x @ W), W ({N_FEATURES}, "
        f"{kg['n_out']}) standard normal; f0 = 0; t = {_fmt_t(kg['t'])}; no test points",
    ]
    t = kg.get("truth", {})
    if "n_rhs" in t:
        looser = t.get("looser", {})
        lines.append(f"  truth: ntkfast.kernel_gd dopri5 rtol={t['rtol']:g} atol={t['atol']:g}: "
                     f"{t['n_steps']} steps, {t['n_rhs']} RHS, {t['seconds']:.1f} s; "
                     f"a run at rtol={looser.get('rtol', 0):g} atol={looser.get('atol', 0):g} "
                     f"differs from it by {_e(looser.get('error'))}")
    lines.append("  error = max |f - f_truth| / max |f_truth| over the requested times (training "
                 "outputs); per RHS = time / RHS count")
    header = ["solver", "setting", "steps", "rejected", "RHS", "time", "per RHS", "error",
              "ntkfast speedup"]
    body = []
    fast_cell = Timing(**kg["solvers"][0]["timing"]) if kg["solvers"] else Timing("error")
    for s in kg["solvers"]:
        c = Timing(**s["timing"])
        per = (Timing("measured", c.seconds / s["n_rhs"], others_cpus=c.others_cpus)
               if c.known and s.get("n_rhs") else Timing("n/a"))
        body.append([s["label"], s["setting"], _i(s["n_steps"]), _i(s["n_rejected"]), _i(s["n_rhs"]),
                     B._fmt_s(c), _ms(per) if per.known else "-", _e(s["error"]),
                     "" if s is kg["solvers"][0] else _ratio(c, fast_cell)])
    lines += ["  " + r for r in B._table(header, body, right={2, 3, 4, 5, 6, 7, 8})]
    if kg["search"]:
        steps = ", ".join(f"{s['steps']}: {'failed' if s['error'] is None else _e(s['error'])}"
                          for s in kg["search"])
        lines.append(f"  rk4 step search (untimed; steps over [0, {kg['t'][-1]:g}]: error): {steps}")
        lines.append(f"  (default rk4 step N / max row sum |K| = {kg['default_rk4_dt']:.3g}, i.e. "
                     f"{math.ceil(kg['t'][-1] / kg['default_rk4_dt'])} steps)")
    end = kg.get("endpoint")
    if end is not None:
        parts = []
        for s in end["solvers"]:
            parts.append(f"{s['label']} {s['setting'].split(',')[0]}"
                         + (f" (dt {s['setting'].split('= ')[-1]})" if s["setting"].startswith("rk4") else "")
                         + f": {B._fmt_s(Timing(**s['timing']))} s, {_i(s.get('n_rhs'))} RHS, "
                         f"error {_e(s['error'])}")
        lines.append(f"  t = {end['t'][-1]:g} only requested (error at t_end): " + "; ".join(parts))
    mv, npmv = Timing(**kg["matvec"]), Timing(**kg["numpy_matvec"])
    lines.append(f"  one RHS product K @ D, D ({kg['n']}, {kg['n_out']}): _core.kernel_matvec "
                 f"{_ms(mv)}; numpy K @ D {_ms(npmv)}")
    if kg.get("floor_seconds"):
        lines.append(f"  bandwidth floor: K's {kg['kernel_bytes'] / 1e6:.0f} MB / "
                     f"{kg['bandwidth'] / 1e9:.1f} GB/s (streaming read, _core.read_bandwidth over "
                     f"{kg['kernel_bytes'] / 1e6:.0f} MB, {m['ntkfast_threads']} threads) = "
                     f"{kg['floor_seconds'] * 1e3:.2f} ms; kernel_matvec / floor "
                     + (f"{mv.seconds / kg['floor_seconds']:.2f}" if mv.known else "-"))
    for note in kg["notes"]:
        lines.append(f"  note: {note}")
    for s in kg["solvers"]:
        c = Timing(**s["timing"])
        if c.status == "error":
            lines.append(f"  error: {s['label']} {s['setting']}: {c.note}")
    if mv.status == "error":
        lines.append(f"  error: kernel_matvec: {mv.note}")

    lines += ["", f"train: MLP {tr['widths']} ({tr['n_params']:,} parameters), relu, NTK "
              f"parameterization, seed {SEED}; x ({tr['n']}, {tr['widths'][0]}) standard normal, y "
              f"standard normal; MSE, lr {tr['lr']:g}, {tr['steps']} steps, {tr['dtype']}"]
    if "final_loss" in tr:
        lines.append(f"  loss {tr['initial_loss']:.4g} -> {tr['final_loss']:.4g}; max |f_reference - "
                     f"f_ntkfast| / max |f_ntkfast| = {_e(tr.get('deviation'))}")
    ft, rt, fl = Timing(**tr["fast"]), Timing(**tr["reference"]), Timing(**tr["floor"])
    header = ["implementation", "time", "per step", "ntkfast is"]
    steps = max(1, tr["steps"])

    def per_step(c):
        return _ms(Timing("measured", c.seconds / steps, others_cpus=c.others_cpus)) if c.known else "-"
    body = [["ntkfast.train", B._fmt_s(ft), per_step(ft), ""],
            ["reference.train (numpy)", B._fmt_s(rt), per_step(rt),
             (_ratio(rt, ft) + " faster") if ft.known and rt.known else ""],
            ["BLAS floor (numpy products alone)", B._fmt_s(fl), per_step(fl),
             (_ratio(ft, fl) + " the floor") if ft.known and fl.known else ""]]
    lines += ["  " + r for r in B._table(header, body, right={1, 2, 3})]
    lines.append("  BLAS floor per step, by product (numpy float32, preallocated outputs, best of "
                 f"{o['product_repeat']}):")
    body = [[p["product"], _ms(Timing(**p["timing"]))] for p in tr["floor_parts"]]
    lines += ["    " + r for r in B._table(["product", "time"], body, right={1})]
    for label, c in (("ntkfast.train", ft), ("reference.train", rt)):
        if c.status == "error":
            lines.append(f"  error: {label}: {c.note}")
    if any(Timing(**c).contended for c in (tr["fast"], tr["reference"], tr["floor"], kg["matvec"])) \
            or any(Timing(**s["timing"]).contended for s in kg["solvers"]):
        lines.append(f"  ! = other processes used more than {B.BUSY_CPUS} CPUs on average while this "
                     "cell was timed: its time is inflated, the ratio unreliable.")

    lines += ["", "checks (targets from the issue, item 9: kernel_gd N=4000 O=10 t=1000; train "
              "[32, 1024, 1024, 1] N=1024 100 steps float32"
              + ("" if results["headline"] else "; --quick sizes: timing checks indicative only")
              + "):"]

    def value(c):
        v = c["value"]
        if v is None:
            return "-"
        return _e(v) if c["format"] == "e" else f"{v:.2f}x"
    lines += B.checks_and_total(results, value, "dynamics section")
    return "\n".join(s.rstrip() for s in lines)


def _fmt_t(ts) -> str:
    return "[" + ", ".join(f"{v:g}" for v in ts) + "]"


def save_json(results: dict, path: str) -> None:
    B.save_json(results, path)
