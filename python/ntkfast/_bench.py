"""Side-by-side timings behind ``ntkfast bench``: the C++ path, the numpy reference and, when it
is importable, neural-tangents, all on the same built-in data in one process.

Every timing is: one untimed warm-up call of the same size (the first touch of freshly allocated
memory can cost seconds on a VM, and it is not what we want to measure), then the best of up to
``repeat`` timed calls, stopping early once the timed calls have used ``max_time`` seconds.

The numpy reference (and neural-tangents) take about a minute per call at N = 8000, so they are
timed for N <= ``reference_max_n`` and for the configuration the checks need (relu, float64,
check depth, largest N). Their other cells are *estimates*, t(N0)·(N/N0)² from the largest
measured N0 of the same activation, dtype and depth; the report marks them ``~…*`` and the JSON
gives them ``"status": "extrapolated"``. The kernels are O(N²·L), but the reference's (N, N)
temporaries fall out of cache as N grows, so it tends to scale worse than N² and the estimates
(and the speedups built on them) are likely on the low side.

Other processes on a small machine inflate the timings (an OpenMP team with one core taken can
run several times slower), so each cell also records how much CPU the rest of the machine used
meanwhile (/proc/stat minus this process); cells where that exceeds ``BUSY_CPUS`` are marked "!".

neural-tangents runs its ``kernel_fn`` under ``jax.jit`` with ``block_until_ready``; the warm-up
call compiles it, so compile time is not in its timings. XLA uses its own threads (all CPUs, not
``--threads``), and the x64 flag is set per row, since neural-tangents computes in float64 when it
is on and in float32 when it is off, whatever the input's dtype.
"""
from __future__ import annotations

import gc
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import numpy as np

N_FEATURES = 32
SEED = 0
WEIGHT_STD = 1.0
BIAS_STD = 0.0

FULL = dict(sizes=(1000, 2000, 4000, 8000), depths=(3, 8), activations=("relu", "erf", "tanh"),
            dtypes=("float64", "float32"), repeat=3, reference_max_n=2000)
# Under a minute on 2 cores: the same checks at N = 2000 (vs 500) instead of 8000 (vs 2000); the
# reference is timed at N = 1000 and for the relu float64 check row at N = 2000.
QUICK = dict(sizes=(1000, 2000), depths=(8,), activations=("relu", "erf", "tanh"),
             dtypes=("float64", "float32"), repeat=3, reference_max_n=1000)
MAX_TIME = 5.0  # seconds of timed calls per cell before best-of stops early
BUSY_CPUS = 0.25  # other processes using more than this many CPUs on average: cell marked "!"
NT_ACTIVATIONS = ("relu", "erf")  # neural-tangents has no closed-form tanh


@dataclass
class Options:
    sizes: tuple
    depths: tuple
    activations: tuple
    dtypes: tuple
    repeat: int
    reference_max_n: int
    threads: Optional[int] = None
    reference: bool = True
    quick: bool = False


def options(quick: bool = False, **overrides) -> Options:
    """The full or quick profile, with the given fields (not None) replacing its values."""
    base = dict(QUICK if quick else FULL)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Options(quick=quick, **base)


@dataclass
class Timing:
    """One cell. ``status``: measured, extrapolated, skipped, n/a, not installed or error."""

    status: str
    seconds: Optional[float] = None
    runs: int = 0
    all_seconds: list = field(default_factory=list)
    note: str = ""
    # CPUs' worth of time other processes (and hypervisor steal) took while this cell was timed,
    # warm-up included; None where unknown or the cell took under 0.2 s.
    others_cpus: Optional[float] = None

    @property
    def known(self) -> bool:
        return self.seconds is not None

    @property
    def contended(self) -> bool:
        return self.others_cpus is not None and self.others_cpus > BUSY_CPUS


@dataclass
class Row:
    activation: str
    dtype: str
    n: int
    depth: int
    fast: Timing
    reference: Timing
    nt: Timing
    check_only: bool = False  # not in the requested grid; added because a check needs it


def _busy_seconds() -> Optional[float]:
    """CPU seconds all processes have used since boot, steal included (Linux /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:9]]
    except (OSError, ValueError):  # pragma: no cover - not Linux
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _others_cpus(busy0, own0, busy1, own1, seconds: float, shortest: float = 0.0) -> Optional[float]:
    """CPUs other processes used on average over ``seconds`` between two readings of
    (_busy_seconds, own CPU seconds); None without /proc/stat or for a window shorter than
    ``shortest`` (or empty)."""
    if busy0 is None or busy1 is None or seconds <= 0 or seconds < shortest:
        return None
    return max(0.0, (busy1 - busy0) - (own1 - own0)) / seconds


def _time(fn: Callable[[], object], repeat: int, max_time: float = MAX_TIME) -> Timing:
    busy0, own0, wall0 = _busy_seconds(), _own_seconds(), time.perf_counter()
    fn()  # warm-up: same sizes, so the timed calls reuse memory the process has touched
    times = []
    for _ in range(max(1, repeat)):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if sum(times) >= max_time:
            break
    busy1, own1, wall1 = _busy_seconds(), _own_seconds(), time.perf_counter()
    # /proc/stat counts in 10 ms ticks: too coarse to judge shorter windows.
    others = _others_cpus(busy0, own0, busy1, own1, wall1 - wall0, shortest=0.2)
    return Timing("measured", min(times), len(times), times, others_cpus=others)


def _safe_time(make: Callable[[], Callable[[], object]], repeat: int) -> Timing:
    """Time ``make()`` like :func:`_time`; an error in building or calling it becomes a cell."""
    try:
        return _time(make(), repeat)
    except Exception as exc:  # a comparator failing must not lose the rest of the report
        return Timing("error", note=f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------- neural-tangents (optional)

class _NeuralTangents:
    """``stax`` Dense/activation serial network, NTK parametrization, jitted kernel_fn."""

    def __init__(self):
        self.status = "not installed"
        self.version = None
        self._cache = {}
        try:
            import jax
            import neural_tangents
            from neural_tangents import stax
        except ImportError:
            return
        except Exception as exc:  # broken install: say so, carry on without it
            self.status = f"import failed ({type(exc).__name__}: {exc})"
            return
        self.jax, self.stax = jax, stax
        self.version = (f"{getattr(neural_tangents, '__version__', 'unknown')} "
                        f"(jax {getattr(jax, '__version__', 'unknown')})")
        self.status = "ok"

    @property
    def available(self) -> bool:
        return self.status == "ok"

    def _precision(self, dtype: str):
        """Each row sets jax's x64 flag to its dtype (see _bench_nt_empirical.jax_precision)."""
        from ._bench_nt_empirical import jax_precision  # late: this file is also loaded by path

        return jax_precision(dtype)

    def caller(self, x: np.ndarray, activation: str, depth: int, dtype: str):
        key = (activation, depth)
        if key not in self._cache:
            stax = self.stax
            act = {"relu": stax.Relu, "erf": stax.Erf}[activation]
            layers = []
            for _ in range(depth - 1):
                layers += [stax.Dense(512, W_std=WEIGHT_STD, b_std=BIAS_STD,
                                      parameterization="ntk"), act()]
            layers.append(stax.Dense(1, W_std=WEIGHT_STD, b_std=BIAS_STD, parameterization="ntk"))
            _, _, kernel_fn = stax.serial(*layers)
            # jit's cache is keyed on the x64 flag too: one compile per dtype and shape, done in
            # the untimed warm-up call.
            self._cache[key] = self.jax.jit(kernel_fn, static_argnames="get")
        kernel_fn = self._cache[key]
        with self._precision(dtype):
            xj = self.jax.numpy.asarray(x.astype(dtype))

        def call():
            with self._precision(dtype):
                out = kernel_fn(xj, None, get="ntk").block_until_ready()
            if out.dtype != np.dtype(dtype):  # a row must not be timed in another precision
                raise TypeError(f"neural-tangents returned {out.dtype} for a {dtype} row")
            return out
        return call


# ---------------------------------------------------------------- planning and running

def _check_depth(opts: Options) -> int:
    return 8 if 8 in opts.depths else max(opts.depths)


def _check_sizes(opts: Options) -> tuple[int, int]:
    big = max(opts.sizes)
    return big, max(1, big // 4)


def plan(opts: Options) -> list[tuple[str, str, int, int, bool]]:
    """(activation, dtype, N, depth, check_only) for every row, smallest N first."""
    rows = {(a, t, n, d): False for n in opts.sizes for d in opts.depths
            for a in opts.activations for t in opts.dtypes}
    big, small = _check_sizes(opts)
    depth = _check_depth(opts)
    for n in (small, big):
        rows.setdefault(("relu", "float64", n, depth), True)
    order = {a: i for i, a in enumerate(opts.activations)}
    key = lambda r: (r[2], r[3], order.get(r[0], -1), r[1] != "float64")  # noqa: E731
    return [(*k, rows[k]) for k in sorted(rows, key=key)]


def _measure_comparator(opts: Options, n: int, activation: str, dtype: str, depth: int) -> bool:
    big, _ = _check_sizes(opts)
    key = (activation, dtype, depth) == ("relu", "float64", _check_depth(opts)) and n == big
    return n <= opts.reference_max_n or key


def _extrapolate(rows: list[Row], attr: str) -> None:
    """Fill unmeasured comparator cells with t(N0)·(N/N0)² from the largest measured N0."""
    for row in rows:
        cell = getattr(row, attr)
        if cell.status != "skipped":
            continue
        base = [r for r in rows
                if (r.activation, r.dtype, r.depth) == (row.activation, row.dtype, row.depth)
                and getattr(r, attr).status == "measured" and r.n < row.n]
        if not base:
            continue
        b = max(base, key=lambda r: r.n)
        est = getattr(b, attr).seconds * (row.n / b.n) ** 2
        setattr(row, attr, Timing("extrapolated", est, note=f"from N={b.n}"))


def machine_info(opts: Options, nt: _NeuralTangents) -> dict:
    import ntkfast

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        affinity = None
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "cpu_model": cpu_model,
        "ntkfast_threads": opts.threads if opts.threads is not None else ntkfast.get_num_threads(),
        "openmp_enabled": bool(ntkfast.openmp_enabled),
        "ntkfast_version": ntkfast.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "neural_tangents": nt.version if nt.available else nt.status,
        "load_average_at_start": _loadavg(),
    }


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):  # pragma: no cover - not Unix
        return None


def run(opts: Options, progress=None) -> dict:
    """Time every planned row; returns the results dict that :func:`report` prints."""
    import ntkfast
    from ntkfast import reference

    if progress is None:
        progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    nt = _NeuralTangents()
    info = machine_info(opts, nt)
    rows_plan = plan(opts)
    x_all = np.random.default_rng(SEED).standard_normal((max(r[2] for r in rows_plan), N_FEATURES))
    started = time.perf_counter()
    busy0, own0 = _busy_seconds(), _own_seconds()
    rows = []
    for i, (act, dt, n, depth, check_only) in enumerate(rows_plan, 1):
        x = x_all[:n]
        kw = dict(depth=depth, activation=act, weight_std=WEIGHT_STD, bias_std=BIAS_STD,
                  dtype=np.dtype(dt))
        fast = _time(lambda: ntkfast.ntk(x, n_threads=opts.threads, **kw), opts.repeat)
        measure = _measure_comparator(opts, n, act, dt, depth)
        if not opts.reference:
            ref = Timing("off")
        elif measure:
            ref = _safe_time(lambda: lambda: reference.ntk(x, **kw), opts.repeat)
        else:
            ref = Timing("skipped")
        if not nt.available:
            nt_cell = Timing("not installed", note=nt.status)
        elif act not in NT_ACTIVATIONS:
            nt_cell = Timing("n/a", note=f"neural-tangents has no {act}")
        elif measure:
            nt_cell = _safe_time(lambda: nt.caller(x, act, depth, dt), opts.repeat)
        else:
            nt_cell = Timing("skipped")
        rows.append(Row(act, dt, n, depth, fast, ref, nt_cell, check_only))
        progress(f"[{i}/{len(rows_plan)}, {time.perf_counter() - started:.0f} s] {act} {dt} "
                 f"N={n} depth={depth}: fast {_fmt_s(fast)}, reference {_fmt_s(ref)}, "
                 f"neural-tangents {_fmt_s(nt_cell)}")
    _extrapolate(rows, "reference")
    _extrapolate(rows, "nt")
    total = time.perf_counter() - started
    others = _others_cpus(busy0, own0, _busy_seconds(), _own_seconds(), total)
    return {
        "machine": info,
        "options": asdict(opts),
        "data": {"distribution": "standard normal", "n_features": N_FEATURES, "seed": SEED,
                 "weight_std": WEIGHT_STD, "bias_std": BIAS_STD, "function": "ntk(x), x2=None"},
        "rows": [asdict(r) for r in rows],
        "checks": checks(rows, opts),
        "total_seconds": total,
        "others_cpus_during_run": others,
        "load_average_at_end": _loadavg(),
    }


# ---------------------------------------------------------------- checks (issue item 7)

def _find(rows, act, dt, n, depth) -> Optional[Row]:
    for r in rows:
        if (r.activation, r.dtype, r.n, r.depth) == (act, dt, n, depth):
            return r
    return None


def checks(rows: list[Row], opts: Options) -> list[dict]:
    big, small = _check_sizes(opts)
    depth = _check_depth(opts)
    out = []

    # The targets are stated for N = 8000; at smaller N fixed costs (per-point preparation,
    # thread start-up) weigh more, so a pass/fail verdict there would mislead.
    at_target_size = big >= 8000

    def add(name, value, target, ok, note="", cells=()):
        if any(c.contended for c in cells):
            note = ", ".join(filter(None, [note, "contended (!)"]))
        if not at_target_size and ok is not None:
            ok, note = None, ", ".join(filter(None, [note, "target is for N=8000"]))
        out.append({"name": name, "value": value, "target": target, "ok": ok, "note": note})

    key = _find(rows, "relu", "float64", big, depth)
    if key is not None and key.reference.known:
        s = key.reference.seconds / key.fast.seconds
        add(f"relu float64 N={big} depth {depth}: reference / fast", s, ">= 30", s >= 30,
            "" if key.reference.status == "measured" else "reference time estimated",
            (key.fast, key.reference))
    else:
        add(f"relu float64 N={big} depth {depth}: reference / fast", None, ">= 30", None,
            "reference not timed")
    for dt in ("float64", "float32"):
        r, t = _find(rows, "relu", dt, big, depth), _find(rows, "tanh", dt, big, depth)
        if r is not None and t is not None:
            v = t.fast.seconds / r.fast.seconds
            add(f"tanh / relu time, {dt}, N={big} depth {depth}", v, "<= 3", v <= 3,
                cells=(r.fast, t.fast))
    for act in opts.activations:
        a, b = _find(rows, act, "float64", big, depth), _find(rows, act, "float32", big, depth)
        if a is not None and b is not None:
            v = a.fast.seconds / b.fast.seconds
            name = f"float64 / float32 time, {act}, N={big} depth {depth}"
            if act == "relu":
                add(name, v, ">= 1.6", v >= 1.6, cells=(a.fast, b.fast))
            else:
                add(name, v, "(info)", None, cells=(a.fast, b.fast))
    a, b = _find(rows, "relu", "float64", big, depth), _find(rows, "relu", "float64", small, depth)
    if a is not None and b is not None and big > small:
        v = a.fast.seconds / b.fast.seconds
        ideal = (big / small) ** 2
        expo = math.log(v) / math.log(big / small)
        add(f"relu float64 depth {depth}: t(N={big}) / t(N={small})", v,
            f"~{ideal:.0f} (N^2)", 1.8 <= expo <= 2.2, f"exponent {expo:.2f}", (a.fast, b.fast))
    return out


# ---------------------------------------------------------------- formatting

def _fmt_s(cell: Timing) -> str:
    if cell.status == "measured":
        return _num(cell.seconds) + ("!" if cell.contended else "")
    if cell.status == "extrapolated":
        return "~" + _num(cell.seconds) + "*"
    return {"skipped": "-", "off": "off", "error": "error"}.get(cell.status, cell.status)


def _num(s: float) -> str:
    if s >= 100:
        return f"{s:.0f}"
    if s >= 10:
        return f"{s:.1f}"
    if s >= 1:
        return f"{s:.2f}"
    if s >= 0.1:
        return f"{s:.3f}"
    return f"{s:.4f}"


def _speedup(other: Timing, fast: Timing) -> str:
    if not other.known or not fast.known:
        return ""
    v = other.seconds / fast.seconds
    txt = f"{v:.0f}x" if v >= 100 else f"{v:.1f}x"
    txt = "~" + txt + "*" if other.status == "extrapolated" else txt
    return txt + ("!" if other.contended or fast.contended else "")


def machine_lines(m: dict) -> list[str]:
    """The CPU and version lines that head the empirical and dynamics reports."""
    return [
        f"machine: {m['cpu_count']} CPUs ({m['cpus_available']} available)"
        + (f", {m['cpu_model']}" if m["cpu_model"] else ""),
        f"ntkfast {m['ntkfast_version']}: {m['ntkfast_threads']} threads; numpy {m['numpy_version']}; "
        f"python {m['python_version']}",
    ]


def _fmt_load(v) -> str:
    return "unknown" if not v else ", ".join(f"{x:.2f}" for x in v)


def _table(header: list[str], body: list[list[str]], right: set) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(header)]
    fmt = lambda cells: "  ".join(  # noqa: E731
        c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return [fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in body)]


def report(results: dict) -> str:
    m, o = results["machine"], results["options"]
    lines = [
        "ntkfast bench" + (" --quick" if o["quick"] else ""),
        f"machine: {m['cpu_count']} CPUs ({m['cpus_available']} available)"
        + (f", {m['cpu_model']}" if m["cpu_model"] else ""),
        f"ntkfast {m['ntkfast_version']}: {m['ntkfast_threads']} threads, OpenMP "
        f"{'enabled' if m['openmp_enabled'] else 'DISABLED'}; numpy {m['numpy_version']}; "
        f"python {m['python_version']}",
        f"neural-tangents: {m['neural_tangents']}",
        f"load average (1, 5, 15 min) at start: {_fmt_load(m['load_average_at_start'])}; at end: "
        f"{_fmt_load(results.get('load_average_at_end'))}",
        f"data: standard normal x, shape (N, {N_FEATURES}), seed {SEED}; ntk(x) with x2=None, "
        f"weight_std={WEIGHT_STD}, bias_std={BIAS_STD}",
        f"timing: one warm-up call, then best of up to {o['repeat']} (stops after "
        f"{MAX_TIME:.0f} s of timed calls); seconds",
        "",
    ]
    rows = [Row(**{**r, **{k: Timing(**r[k]) for k in ("fast", "reference", "nt")}})
            for r in results["rows"]]
    header = ["activation", "dtype", "N", "depth", "fast", "reference", "speedup",
              "neural-tangents", "vs nt"]
    body = [[r.activation + (" +" if r.check_only else ""), r.dtype, str(r.n), str(r.depth),
             _fmt_s(r.fast), _fmt_s(r.reference), _speedup(r.reference, r.fast), _fmt_s(r.nt),
             _speedup(r.nt, r.fast)] for r in rows]
    lines += _table(header, body, right={2, 3, 4, 5, 6, 8})
    lines.append("")
    if any(r.reference.status == "extrapolated" or r.nt.status == "extrapolated" for r in rows):
        lines.append(f"~x* = estimate, not measured: t(N0)*(N/N0)^2 from the largest measured N0 "
                     f"of the same activation/dtype/depth (comparators timed for N <= "
                     f"{o['reference_max_n']} and the relu float64 check row; "
                     "--reference-max-n to change).")
    if any(c.contended for r in rows for c in (r.fast, r.reference, r.nt)):
        lines.append(f"! = other processes used more than {BUSY_CPUS} CPUs on average while this "
                     f"cell was timed (of {m['cpus_available'] or m['cpu_count']}): its time is "
                     "inflated, the speedup unreliable.")
    if any(r.check_only for r in rows):
        lines.append("+ = row added for the checks below (not in --sizes/--depths/...).")
    errors = [(r, c) for r in rows for c in (r.reference, r.nt) if c.status == "error"]
    for r, c in errors:
        lines.append(f"error: {r.activation} {r.dtype} N={r.n} depth={r.depth}: {c.note}")
    lines += ["", "checks (from this run; targets from the issue, item 7, which are for N=8000 depth 8"
              + ("" if max(o["sizes"]) == 8000 and 8 in o["depths"] else
                 "; at other sizes they are indicative only") + "):"]

    def value(c):
        v = c["value"]
        return "-" if v is None else (f"{v:.1f}x" if "reference / fast" in c["name"] else f"{v:.2f}")
    lines += checks_and_total(results, value, "total time")
    return "\n".join(s.rstrip() for s in lines)


def check_adder(out: list, headline: bool, off_headline_note: str):
    """``add(name, value, target, ok, note, cells, fmt, sized)``, appending a check to ``out``: a
    check whose cells were timed under contention says so, and a size-dependent (``sized``)
    target gets no verdict when the run is not at the headline size."""
    def add(name, value, target, ok, note="", cells=(), fmt="x", sized=True):
        if any(c.contended for c in cells):
            note = ", ".join(filter(None, [note, "contended (!)"]))
        if sized and not headline and ok is not None:
            ok, note = None, ", ".join(filter(None, [note, off_headline_note]))
        out.append({"name": name, "value": value, "target": target, "ok": ok, "note": note,
                    "format": fmt})
    return add


def checks_and_total(results: dict, format_value, total_label: str) -> list:
    """The checks table of a report (values shown by format_value(check)) and its time line."""
    body = [[c["name"], format_value(c), c["target"], {True: "ok", False: "MISS", None: ""}[c["ok"]],
             c["note"]] for c in results["checks"]]
    lines = ["  " + s for s in _table(["check", "value", "target", "result", "note"], body, right={1})]
    others = results.get("others_cpus_during_run")
    lines += ["", f"{total_label}: {results['total_seconds']:.0f} s"
              + ("" if others is None else
                 f"; other processes used {others:.2f} CPUs on average meanwhile")]
    return lines


def save_json(results: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
