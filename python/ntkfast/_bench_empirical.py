"""The empirical-NTK section of ``ntkfast bench``: ``ntkfast.empirical_ntk`` of a finite MLP
against the numpy reference, the BLAS floor of its method, torch.func and neural-tangents.

Headline case (the issue's): a relu MLP with widths [32, 1024, 1024, 1] (3 weight layers, n_L = 1,
P = 1,084,417 parameters), NTK parameterization, standard-normal x of shape (2048, 32),
``empirical_ntk(net, x)`` (x2=None, output="trace"), float32 and float64.

Columns
- ntkfast: ``ntkfast.empirical_ntk``; reference: ``ntkfast.reference.empirical_ntk`` (plain numpy).
- Gram floor: numpy alone doing the Gram products of the layerwise identity (ntk-math.md §3) on
  precomputed features: A_l @ A_l.T for every weight layer l (A_l: (N, n_l), A_0 = x) and
  D_l @ D_l.T for l < L-1 (D_l = δ^(l) reshaped to (N, n_L·n_{l+1}): the trace over outputs).
  numpy runs X @ X.T as one syrk on its OpenBLAS (all CPUs). It leaves out the forward and
  backward passes, the Hadamard products and the sum over layers, so no implementation of this
  method can beat it by much; ntkfast / floor is the headline ratio.
- fwd/bwd: numpy's time for the matrix products of the forward pass (A_l @ W_l.T) and of the
  backward pass (D_l reshaped to (N·n_L, n_{l+1}) @ W_l), so that the report also shows all the
  BLAS work; ntkfast / (floor + fwd/bwd) is printed beside it.
- torch.func: the recipe of PyTorch's "Neural Tangent Kernels" tutorial, ``vmap(jacrev(f))`` over
  ``functional_call`` for the per-example Jacobians, then ``einsum('Naf,Mbf->NMab')`` per parameter
  and the sum (the Jacobians are computed once since x2 is x1), on a torch module that holds
  copies of our arrays and applies the same scales, in float32. When the Jacobians would not fit
  in half the available memory they are computed for row blocks (the report says how many).
- neural-tangents: ``empirical_ntk_fn(..., vmap_axes=0, STRUCTURED_DERIVATIVES)`` under jax.jit
  (see ``_bench_nt_empirical``), in this process when importable, else in the interpreter given
  by ``--nt-python`` (its environment needs numpy, jax and neural_tangents, not ntkfast).
Each comparator's result is compared with ntkfast's: max |K - K_ntkfast| / max |K_ntkfast|.

Timing as in ``_bench``: one untimed warm-up call of the same size, then the best of up to
``repeat`` calls (stopping after 5 s of timed calls), "!" where other processes used more than a
quarter of a CPU meanwhile. torch.func is timed once after its warm-up (``torch_repeat``): one call
takes about a minute at N = 2048. ntkfast, the reference and the floor are timed first, the
comparators after them, so torch's and XLA's thread pools do not exist yet while ntkfast runs.

Memory rows (full report only): n_L = 10 with output="full" at N = 2048, and N = 20000 with
output="trace" (default memory budget, and a 256 MiB budget that forces row blocks). Each runs
in a fresh subprocess (``python -m ntkfast._bench_empirical memory SPEC``) so that its peak
resident memory (VmHWM) belongs to that one call; the time is of that single, cold call.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import numpy as np

from . import _bench as B
from ._bench import Timing

N_FEATURES = 32
SEED = 0
ACTIVATION = "relu"
WEIGHT_STD = 1.0
BIAS_STD = 0.0
HEADLINE_WIDTHS = (N_FEATURES, 1024, 1024, 1)
HEADLINE_N = 2048
MEMORY_LIMIT = 24e9  # bytes: the bound for n_L = 10, output="full", N = 2048
FORCED_BUDGET = 256 << 20  # memory_budget of the blocked N = 20000 row
# (label, widths, N, output, dtype, memory_budget); the n_L = 10 row carries MEMORY_LIMIT.
MEMORY_CASES = (
    ("n_L=10 full", HEADLINE_WIDTHS[:-1] + (10,), HEADLINE_N, "full", "float32", None),
    ("n_L=10 full", HEADLINE_WIDTHS[:-1] + (10,), HEADLINE_N, "full", "float64", None),
    ("N=20000 trace", HEADLINE_WIDTHS, 20000, "trace", "float32", None),
    ("N=20000 trace", HEADLINE_WIDTHS, 20000, "trace", "float64", FORCED_BUDGET),
)
TOLERANCE = {"float32": 1e-4, "float64": 1e-10}  # agreement of the comparators with ntkfast


@dataclass
class Options:
    widths: tuple = HEADLINE_WIDTHS
    n: int = HEADLINE_N
    dtypes: tuple = ("float32", "float64")
    repeat: int = 3
    threads: Optional[int] = None
    reference: bool = True
    # N of the reference's rows when it is not timed at n (quick: the reference alone would
    # take half a minute at N = 2048); those rows time ntkfast and the floor at that N as well.
    reference_n: Optional[int] = None
    torch: bool = True
    torch_dtypes: tuple = ("float32",)
    torch_repeat: int = 1
    nt: bool = True
    nt_python: Optional[str] = None
    memory: bool = True
    memory_cases: tuple = MEMORY_CASES
    quick: bool = False


def options(quick: bool = False, **overrides) -> Options:
    base = dict(repeat=1, reference_n=512, torch=False, nt=False, memory=False) if quick else {}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Options(quick=quick, **base)


@dataclass
class Row:
    dtype: str
    n: int
    widths: tuple
    fast: Timing
    reference: Timing
    floor: Timing
    fwd_bwd: Timing
    torch: Timing
    nt: Timing
    # max |K - K_fast| / max |K_fast| per comparator ("reference", "torch", "nt")
    deviation: dict = field(default_factory=dict)


@dataclass
class MemoryRow:
    label: str
    dtype: str
    n: int
    widths: tuple
    output: str
    memory_budget: Optional[int]
    status: str = "measured"  # measured, error
    seconds: Optional[float] = None
    others_cpus: Optional[float] = None
    peak_rss: Optional[int] = None  # bytes, VmHWM of the subprocess after the call
    baseline_rss: Optional[int] = None  # bytes, VmRSS before the call (interpreter, data, net)
    output_bytes: Optional[int] = None
    feature_bytes: Optional[int] = None  # the features of all N inputs at once
    budget_used: Optional[int] = None  # memory_budget, or the default it resolved to
    blocked: Optional[bool] = None
    note: str = ""


def n_params(widths) -> int:
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


def _data(n: int, n_features: int = N_FEATURES) -> np.ndarray:
    return np.random.default_rng(SEED).standard_normal((n, n_features))


def _net(widths, dtype: str):
    import ntkfast

    return ntkfast.init_mlp(list(widths), activation=ACTIVATION, weight_std=WEIGHT_STD,
                            bias_std=BIAS_STD, parameterization="ntk", seed=SEED, dtype=dtype)


def _keeping(fn: Callable[[], object], box: dict) -> Callable[[], None]:
    """fn, storing its last result in box["out"] (for the agreement check)."""
    def call():
        box.pop("out", None)
        box["out"] = fn()
    return call


def _deviation(k, ref) -> Optional[float]:
    k, ref = np.asarray(k, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if k.shape != ref.shape:
        return float("nan")
    scale = np.abs(ref).max()
    return float(np.abs(k - ref).max() / scale) if scale > 0 else float(np.abs(k - ref).max())


# ---------------------------------------------------------------- BLAS floor (numpy)

def floor_callers(net, x: np.ndarray, dtype: str):
    """(gram, fwd_bwd): numpy calls doing only the matrix products of the method
    on features computed here, once, by ``ntkfast._numpy_mlp.features``."""
    from ._mlp import checked
    from ._numpy_mlp import features

    cn = checked(net)
    dt = np.dtype(dtype)
    A, D, _ = features(cn, np.asarray(x, dtype=dt), dtype=dt)
    n = x.shape[0]
    grams = [np.ascontiguousarray(a) for a in A] + [np.ascontiguousarray(d.reshape(n, -1)) for d in D]
    W = [np.asarray(w, dtype=dt) for w in cn.weights]
    back = [(np.ascontiguousarray(D[l].reshape(-1, D[l].shape[2])), W[l])
            for l in range(1, cn.depth - 1)]

    def gram():
        for m in grams:
            m @ m.T  # numpy: one syrk per product

    def fwd_bwd():
        for a, w in zip(A, W):
            a @ w.T
        for d, w in back:
            d @ w

    return gram, fwd_bwd


# ---------------------------------------------------------------- torch.func (optional)

class _Torch:
    def __init__(self):
        self.status, self.version = "not installed", None
        try:
            import torch
            from torch.func import functional_call, jacrev, vmap  # noqa: F401
        except ImportError:
            return
        except Exception as exc:  # broken install: say so, carry on without it
            self.status = f"import failed ({type(exc).__name__}: {exc})"
            return
        self.torch = torch
        self.version = torch.__version__
        self.status = "ok"

    @property
    def available(self) -> bool:
        return self.status == "ok"

    def module(self, net, dtype: str):
        """A torch.nn.Module with copies of net's arrays, computing the same function."""
        from ._mlp import checked

        torch = self.torch
        cn = checked(net)
        acts = {"relu": torch.relu, "tanh": torch.tanh, "erf": torch.special.erf,
                "identity": lambda z: z}
        if cn.activation.name not in acts:
            raise ValueError(f"no torch version of activation {cn.activation.name!r} here")
        act = acts[cn.activation.name]
        tdt = getattr(torch, dtype)

        class MLP(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.weights = torch.nn.ParameterList(
                    [torch.nn.Parameter(torch.tensor(np.asarray(w), dtype=tdt)) for w in cn.weights])
                self.biases = torch.nn.ParameterList(
                    [torch.nn.Parameter(torch.tensor(np.asarray(b), dtype=tdt)) for b in cn.biases])

            def forward(self, a):
                L = len(self.weights)
                for l in range(L):  # z = s_w W a + s_b b (NTK parameterization: s_w = σ_w/sqrt(n_l))
                    z = cn.weight_scales[l] * (a @ self.weights[l].T) + cn.bias_scale * self.biases[l]
                    if l < L - 1:
                        a = act(z)
                return z
        return MLP()

    def block_rows(self, n: int, n_out: int, p: int, itemsize: int) -> int:
        """Rows per Jacobian block: everything if it fits in half the available memory, else
        blocks of which two fit there."""
        from ._validation import available_memory_bytes

        row = n_out * p * itemsize
        budget = available_memory_bytes() // 2
        return n if n * row <= budget else max(1, budget // (2 * row))

    def caller(self, net, x: np.ndarray, dtype: str, output: str = "trace", threads=None):
        """(call, n_blocks): ``call()`` returns the empirical NTK of x (x2=None) as numpy."""
        import ntkfast

        torch = self.torch
        from torch.func import functional_call, jacrev, vmap

        torch.set_num_threads(threads if threads and threads > 0 else ntkfast.get_num_threads())
        model = self.module(net, dtype)
        params = {k: v.detach() for k, v in model.named_parameters()}
        xt = torch.tensor(np.asarray(x), dtype=getattr(torch, dtype))
        n, n_out = xt.shape[0], net.widths[-1]
        block = self.block_rows(n, n_out, net.n_params, np.dtype(dtype).itemsize)

        def fnet_single(p, xi):
            return functional_call(model, p, (xi.unsqueeze(0),)).squeeze(0)

        def jacobians(xb):
            jac = vmap(jacrev(fnet_single), (None, 0))(params, xb)
            return [j.flatten(2) for j in jac.values()]

        def contract(j1, j2):
            return torch.stack([torch.einsum("Naf,Mbf->NMab", a, b) for a, b in zip(j1, j2)]).sum(0)

        def call():
            with torch.no_grad():
                if block >= n:
                    jac = jacobians(xt)
                    k = contract(jac, jac)
                    del jac
                else:  # the tutorial's function on row blocks of x1 and x2 (upper triangle)
                    k = torch.empty((n, n, n_out, n_out), dtype=xt.dtype)
                    for i0 in range(0, n, block):
                        ji = jacobians(xt[i0:i0 + block])
                        for j0 in range(i0, n, block):
                            jj = ji if j0 == i0 else jacobians(xt[j0:j0 + block])
                            t = contract(ji, jj)
                            k[i0:i0 + block, j0:j0 + block] = t
                            k[j0:j0 + block, i0:i0 + block] = t.permute(1, 0, 3, 2)
                            del jj, t
                        del ji
                if output == "trace":
                    k = torch.diagonal(k, dim1=2, dim2=3).mean(-1)
                return k.numpy()
        return call, -(-n // block)


# ---------------------------------------------------------------- neural-tangents (optional)

class _NeuralTangents:
    """In this process when importable; else, with ``python``, a subprocess running
    ``_bench_nt_empirical.py`` in that interpreter."""

    def __init__(self, python: Optional[str] = None):
        self.python, self.version, self.where = python, None, None
        try:
            from . import _bench_nt_empirical as worker
            self.version = worker.versions()
            self.worker, self.where, self.status = worker, "in this process", "ok"
            return
        except ImportError:
            self.status = "not installed"
        except Exception as exc:
            self.status = f"import failed ({type(exc).__name__}: {exc})"
        if python:
            self.status, self.where = "ok", f"subprocess: {python}"

    @property
    def available(self) -> bool:
        return self.status == "ok"

    def measure(self, net_by_dtype: dict, x: np.ndarray, repeat: int, output="trace"):
        """{dtype: (Timing, kernel or None)}."""
        if self.where == "in this process":
            out = {}
            for dt, net in net_by_dtype.items():
                box = {}
                cell = B._safe_time(lambda: _keeping(self.worker.caller(
                    x, net.weights, net.biases, activation=net.activation.name,
                    weight_std=net.weight_std, bias_std=net.bias_std, dtype=dt, output=output),
                    box), repeat)
                out[dt] = (cell, box.pop("out", None))
                gc.collect()
            return out
        return self._subprocess(net_by_dtype, x, repeat, output)

    def _subprocess(self, net_by_dtype: dict, x, repeat: int, output: str):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bench_nt_empirical.py")
        net = next(iter(net_by_dtype.values()))
        with tempfile.TemporaryDirectory(prefix="ntkfast-bench-nt-") as tmp:
            data, result, spec = (os.path.join(tmp, f) for f in ("in.npz", "out.npz", "spec.json"))
            # float64 parameters: each dtype's network casts from them as init_mlp's do
            net64 = net_by_dtype.get("float64", net)
            arrays = {"x": np.asarray(x, dtype=np.float64)}
            for l, (w, b) in enumerate(zip(net64.weights, net64.biases)):
                arrays[f"weight_{l}"] = np.asarray(w, dtype=np.float64)
                arrays[f"bias_{l}"] = np.asarray(b, dtype=np.float64)
            np.savez(data, **arrays)
            with open(spec, "w") as f:
                json.dump({"data": data, "result": result, "dtypes": list(net_by_dtype),
                           "activation": net.activation.name, "weight_std": net.weight_std,
                           "bias_std": net.bias_std, "output": output, "repeat": repeat}, f)
            try:
                proc = subprocess.run([self.python, script, spec], capture_output=True, text=True,
                                      timeout=3600)
                reply = json.loads(proc.stdout.strip().splitlines()[-1])
            except Exception as exc:
                err = f"{type(exc).__name__}: {exc}"
                if "proc" in locals():
                    err += "; stderr: " + proc.stderr.strip()[-500:]
                self.status = f"subprocess failed ({err})"
                return {dt: (Timing("error", note=self.status), None) for dt in net_by_dtype}
            if reply.get("status") != "ok":
                self.status = f"{reply.get('status')} in {self.python}"
                return {dt: (Timing("not installed", note=self.status), None) for dt in net_by_dtype}
            self.version = reply["version"]
            kernels = dict(np.load(result)) if os.path.exists(result) else {}
            return {dt: (Timing(**reply["cells"][dt]), kernels.get(dt)) for dt in net_by_dtype}


# ---------------------------------------------------------------- memory rows (subprocess)

def _proc_status_bytes(key: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return None


def _memory_worker(spec: dict) -> dict:
    """One empirical_ntk call in this (fresh) process: time and peak resident memory."""
    import resource

    import ntkfast
    from ntkfast.empirical import DEFAULT_MEMORY_BUDGET
    from ntkfast._validation import available_memory_bytes

    widths, n, dt = tuple(spec["widths"]), spec["n"], spec["dtype"]
    net = _net(widths, dt)
    x = _data(n, widths[0])
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
    busy0, own0, t0 = B._busy_seconds(), B._own_seconds(), time.perf_counter()
    k = ntkfast.empirical_ntk(net, x, output=spec["output"], n_threads=spec.get("threads"),
                              memory_budget=budget)
    seconds = time.perf_counter() - t0
    others = B._others_cpus(busy0, own0, B._busy_seconds(), B._own_seconds(), seconds, shortest=0.2)
    peak = _proc_status_bytes("VmHWM")
    if peak is None:  # pragma: no cover - not Linux; ru_maxrss is in KiB there too
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert k.shape == shape[spec["output"]] and np.isfinite(k[:, :8]).all()
    return {"seconds": seconds, "others_cpus": others, "peak_rss": peak, "baseline_rss": base,
            "output_bytes": k.nbytes, "feature_bytes": features, "budget_used": used,
            "blocked": features > used}


def measure_memory(case, threads=None) -> MemoryRow:
    label, widths, n, output, dt, budget = case
    row = MemoryRow(label, dt, n, tuple(widths), output, budget)
    spec = {"widths": list(widths), "n": n, "output": output, "dtype": dt,
            "memory_budget": budget, "threads": threads}
    try:
        proc = subprocess.run([sys.executable, "-m", "ntkfast._bench_empirical", "memory",
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


# ---------------------------------------------------------------- running

def run(opts: Options, progress=None) -> dict:
    """Time every row; returns the results dict that :func:`report` prints."""
    import ntkfast
    from ntkfast import reference

    if progress is None:
        progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    busy0, own0 = B._busy_seconds(), _own_and_children_seconds()
    torch = _Torch() if opts.torch else None
    nt = _NeuralTangents(opts.nt_python) if opts.nt else None
    info = _info(opts, torch, nt)
    fast_fn = getattr(ntkfast, "empirical_ntk", None)

    sizes = [opts.n] + ([opts.reference_n] if opts.reference and opts.reference_n
                        and opts.reference_n != opts.n else [])
    x_all = _data(max(sizes), opts.widths[0])
    nets = {dt: _net(opts.widths, dt) for dt in opts.dtypes}
    rows, outputs = [], {}
    step = 0
    total_steps = len(sizes) * len(opts.dtypes)
    for n in sorted(sizes, reverse=True):
        x = x_all[:n]
        for dt in opts.dtypes:
            step += 1
            net = nets[dt]
            box = {}
            if fast_fn is None:
                fast = Timing("error", note="ntkfast.empirical_ntk is not available in this build")
            else:
                fast = B._safe_time(lambda: _keeping(
                    lambda: fast_fn(net, x, n_threads=opts.threads), box), opts.repeat)
            outputs[(dt, n)] = box.pop("out", None)
            gram, fwd_bwd = floor_callers(net, x, dt)
            floor = B._time(gram, opts.repeat)
            fb = B._time(fwd_bwd, opts.repeat)
            del gram, fwd_bwd
            gc.collect()
            row = Row(dt, n, tuple(opts.widths), fast, Timing("skipped"), floor, fb,
                      Timing("skipped"), Timing("skipped"))
            if not opts.reference:
                row.reference = Timing("off")
            elif n == (opts.reference_n or opts.n):
                box = {}
                row.reference = B._safe_time(lambda: _keeping(
                    lambda: reference.empirical_ntk(net, x), box), opts.repeat)
                _add_deviation(row, "reference", box.pop("out", None), outputs[(dt, n)])
            gc.collect()
            rows.append(row)
            progress(f"[empirical {step}/{total_steps}, {time.perf_counter() - started:.0f} s] "
                     f"{dt} N={n}: ntkfast {B._fmt_s(fast)}, Gram floor {B._fmt_s(floor)}, "
                     f"fwd/bwd {B._fmt_s(fb)}, reference {B._fmt_s(row.reference)}")

    # Comparators last: their thread pools (torch's OpenMP, XLA) then never coexist with ntkfast's
    # timed calls.
    x = x_all[:opts.n]
    head = {r.dtype: r for r in rows if r.n == opts.n}
    for dt in opts.dtypes:
        row = head[dt]
        if torch is None:
            row.torch = Timing("off")
        elif not torch.available:
            row.torch = Timing("not installed", note=torch.status)
        elif dt not in opts.torch_dtypes:
            row.torch = Timing("skipped", note="torch.func timed in " + "/".join(opts.torch_dtypes))
        else:
            box, blocks = {}, [1]

            def make(dt=dt, box=box, blocks=blocks):
                call, blocks[0] = torch.caller(nets[dt], x, dt, threads=opts.threads)
                return _keeping(call, box)
            progress(f"[empirical, {time.perf_counter() - started:.0f} s] torch.func {dt} N={opts.n} "
                     "(about a minute per call at N=2048, warm-up included)...")
            row.torch = B._safe_time(make, opts.torch_repeat)
            if blocks[0] > 1:
                row.torch.note = f"Jacobians in {blocks[0]} row blocks"
            _add_deviation(row, "torch", box.pop("out", None), outputs[(dt, opts.n)])
            gc.collect()
            progress(f"  torch.func {dt}: {B._fmt_s(row.torch)}")
    if nt is None:
        for dt in opts.dtypes:
            head[dt].nt = Timing("off")
    elif not nt.available:
        for dt in opts.dtypes:
            head[dt].nt = Timing("not installed", note=nt.status)
    else:
        progress(f"[empirical, {time.perf_counter() - started:.0f} s] neural-tangents "
                 f"({nt.where}) N={opts.n}...")
        for dt, (cell, k) in nt.measure(nets, x, opts.repeat).items():
            head[dt].nt = cell
            _add_deviation(head[dt], "nt", k, outputs[(dt, opts.n)])
        info["neural_tangents"] = f"{nt.version} ({nt.where})" if nt.version else nt.status
        gc.collect()
        progress("  neural-tangents: " + ", ".join(f"{dt} {B._fmt_s(head[dt].nt)}" for dt in opts.dtypes))

    memory = []
    if opts.memory:
        for i, case in enumerate(opts.memory_cases, 1):
            progress(f"[empirical memory {i}/{len(opts.memory_cases)}, "
                     f"{time.perf_counter() - started:.0f} s] {case[0]} {case[4]}...")
            memory.append(measure_memory(case, opts.threads))

    total = time.perf_counter() - started
    others = B._others_cpus(busy0, own0, B._busy_seconds(), _own_and_children_seconds(), total)
    results = {
        "machine": info,
        "options": asdict(opts),
        "network": {"widths": list(opts.widths), "activation": ACTIVATION, "parameterization": "ntk",
                    "weight_std": WEIGHT_STD, "bias_std": BIAS_STD, "seed": SEED,
                    "n_params": n_params(opts.widths)},
        "data": {"distribution": "standard normal", "n_features": opts.widths[0], "seed": SEED,
                 "function": 'empirical_ntk(net, x), x2=None, output="trace"'},
        "floor_products": _floor_description(opts.widths, opts.n),
        "rows": [asdict(r) for r in rows],
        "memory": [asdict(m) for m in memory],
        "total_seconds": total,
        "others_cpus_during_run": others,
        "load_average_at_end": B._loadavg(),
    }
    results["checks"] = checks(results)
    return results


def _own_and_children_seconds() -> float:
    """CPU time of this process and of its finished subprocesses (neural-tangents, memory rows)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _info(opts: Options, torch: Optional[_Torch], nt: Optional[_NeuralTangents]) -> dict:
    base = B.machine_info(B.Options(sizes=(), depths=(), activations=(), dtypes=(), repeat=0,
                                    reference_max_n=0, threads=opts.threads), _Missing("off"))
    if torch is None:
        base["torch"] = "off"
    else:
        base["torch"] = (f"{torch.version}, torch.func in {'/'.join(opts.torch_dtypes)} with as many "
                         "threads as ntkfast" if torch.available else torch.status)
    if nt is None:
        base["neural_tangents"] = "off"
    else:
        base["neural_tangents"] = (f"{nt.version or 'version reported by the subprocess'} ({nt.where})"
                                   if nt.available else nt.status)
    return base


class _Missing:
    """What ``_bench.machine_info`` reads of its neural-tangents object."""

    available, version = False, None

    def __init__(self, status):
        self.status = status


def _floor_description(widths, n) -> str:
    L = len(widths) - 1
    parts = [f"A{l}A{l}^T ({n}x{widths[l]})" for l in range(L)]
    parts += [f"D{l}D{l}^T ({n}x{widths[-1] * widths[l + 1]})" for l in range(L - 1)]
    return ", ".join(parts)


def _add_deviation(row: Row, name: str, k, fast_out) -> None:
    if k is not None and fast_out is not None:
        row.deviation[name] = _deviation(k, fast_out)


# ---------------------------------------------------------------- checks (issue, item 8)

def checks(results: dict) -> list[dict]:
    o = results["options"]
    headline = tuple(o["widths"]) == HEADLINE_WIDTHS and o["n"] == HEADLINE_N
    rows = [_row_from_dict(r) for r in results["rows"]]
    out = []
    # sized=False for agreement and memory checks: they hold at any size
    add = B.check_adder(out, headline, "target is for the headline case")

    head = {r.dtype: r for r in rows if r.n == o["n"]}
    n = o["n"]
    if "float32" in head:
        r = head["float32"]
        if r.torch.known and r.fast.known:
            v = r.torch.seconds / r.fast.seconds
            add(f"float32 N={n}: torch.func / ntkfast", v, ">= 100", v >= 100,
                r.torch.note, (r.fast, r.torch))
        else:
            add(f"float32 N={n}: torch.func / ntkfast", None, ">= 100", None,
                f"torch.func {r.torch.status}")
    if "float64" in head:
        r = head["float64"]
        if r.nt.known and r.fast.known:
            v = r.nt.seconds / r.fast.seconds
            add(f"float64 N={n}: neural-tangents / ntkfast", v, ">= 5", v >= 5,
                cells=(r.fast, r.nt))
        else:
            add(f"float64 N={n}: neural-tangents / ntkfast", None, ">= 5", None,
                f"neural-tangents {r.nt.status}")
    for dt, r in head.items():
        if r.fast.known and r.floor.known:
            v = r.fast.seconds / r.floor.seconds
            add(f"{dt} N={n}: ntkfast / Gram floor", v, "<= 1.5", v <= 1.5,
                cells=(r.fast, r.floor))
    for r in rows:
        for name, label in (("reference", "reference"), ("torch", "torch.func"), ("nt", "neural-tangents")):
            if name in r.deviation:
                v = r.deviation[name]
                tol = TOLERANCE[r.dtype]
                add(f"{r.dtype} N={r.n}: max |{label} - ntkfast| / max |ntkfast|", v,
                    f"<= {tol:g}", bool(v <= tol), fmt="e", sized=False)
    for m in results["memory"]:
        m = MemoryRow(**{**m, "widths": tuple(m["widths"])})
        name = f"{m.label} {m.dtype} N={m.n}" + (f" budget {m.memory_budget >> 20} MiB"
                                                  if m.memory_budget else "") + ": peak RSS"
        if m.status != "measured":
            add(name, None, "completes", False, m.note, sized=False)
        elif m.output == "full":
            add(name, m.peak_rss / 1e9, f"<= {MEMORY_LIMIT / 1e9:.0f} GB", m.peak_rss <= MEMORY_LIMIT,
                fmt="GB", sized=False)
        else:
            add(name, m.peak_rss / 1e9, "completes", True,
                "blocked" if m.blocked else "not blocked (features fit the budget)", fmt="GB",
                sized=False)
    return out


def _row_from_dict(r: dict) -> Row:
    return Row(**{**r, "widths": tuple(r["widths"]),
                  **{k: Timing(**r[k]) for k in ("fast", "reference", "floor", "fwd_bwd", "torch", "nt")}})


# ---------------------------------------------------------------- formatting

def _ratio(a: Timing, b: Timing) -> str:
    """a / b as "12.3x" (speedup of b over a), marked like _bench's speedups."""
    if not a.known or not b.known:
        return ""
    v = a.seconds / b.seconds
    txt = f"{v:.0f}x" if v >= 100 else f"{v:.2f}x" if v < 10 else f"{v:.1f}x"
    return txt + ("!" if a.contended or b.contended else "")


def _dev(row: Row, name: str) -> str:
    v = row.deviation.get(name)
    return "" if v is None else f"{v:.1e}"


def _gb(v: Optional[int]) -> str:
    return "-" if v is None else f"{v / 1e9:.2f} GB"


def report(results: dict) -> str:
    m, o, net = results["machine"], results["options"], results["network"]
    widths = net["widths"]
    lines = [
        "ntkfast bench: empirical NTK of a finite network" + (" (--quick)" if o["quick"] else ""),
        *B.machine_lines(m),
        f"torch: {m['torch']}",
        f"neural-tangents: {m['neural_tangents']}",
        f"network: {net['activation']} MLP, widths {widths} ({len(widths) - 1} weight layers, "
        f"P = {net['n_params']:,} parameters), NTK parameterization, weight_std {net['weight_std']}, "
        f"bias_std {net['bias_std']}, seed {net['seed']}",
        f"data: standard normal x, shape (N, {results['data']['n_features']}), seed {SEED}; "
        f"{results['data']['function']}",
        f"timing: one warm-up call, then best of up to {o['repeat']} (torch.func: "
        f"{o['torch_repeat']}); seconds",
        "",
    ]
    rows = [_row_from_dict(r) for r in results["rows"]]
    lines.append("ntkfast against the BLAS floor (numpy, the same Gram products alone, on precomputed "
                 "features):")
    lines.append(f"  Gram floor = {results['floor_products']}; one syrk each (numpy's OpenBLAS, "
                 "all CPUs).")
    lines.append("  fwd/bwd = numpy's forward (A_l @ W_l^T) and backward (D_l @ W_l) products, not "
                 "in the floor.")
    header = ["dtype", "N", "ntkfast", "Gram floor", "ntkfast/floor", "fwd/bwd", "floor+fwd/bwd",
              "ntkfast/(floor+fwd/bwd)"]
    body = []
    for r in rows:
        both = (Timing("measured", r.floor.seconds + r.fwd_bwd.seconds,
                       others_cpus=max(r.floor.others_cpus or 0, r.fwd_bwd.others_cpus or 0) or None)
                if r.floor.known and r.fwd_bwd.known else Timing("error"))
        body.append([r.dtype, str(r.n), B._fmt_s(r.fast), B._fmt_s(r.floor), _ratio(r.fast, r.floor),
                     B._fmt_s(r.fwd_bwd), B._fmt_s(both), _ratio(r.fast, both)])
    lines += ["  " + s for s in B._table(header, body, right=set(range(1, 8)))]
    lines += ["", "ntkfast against other implementations (speedup = their time / ntkfast's; dev = "
              "max |K - K_ntkfast| / max |K_ntkfast|):"]
    header = ["dtype", "N", "ntkfast", "reference", "speedup", "dev", "torch.func", "speedup", "dev",
              "neural-tangents", "speedup", "dev"]
    body = [[r.dtype, str(r.n), B._fmt_s(r.fast), B._fmt_s(r.reference), _ratio(r.reference, r.fast),
             _dev(r, "reference"), B._fmt_s(r.torch), _ratio(r.torch, r.fast), _dev(r, "torch"),
             B._fmt_s(r.nt), _ratio(r.nt, r.fast), _dev(r, "nt")] for r in rows]
    lines += ["  " + s for s in B._table(header, body, right=set(range(1, 12)))]
    notes = []
    for r in rows:
        for label, c in (("ntkfast", r.fast), ("reference", r.reference), ("torch.func", r.torch),
                         ("neural-tangents", r.nt)):
            if c.status in ("error", "not installed") and c.note and c.note != c.status:
                notes.append(f"  {label} {r.dtype} N={r.n}: {c.status}: {c.note}")
            elif c.note and c.status == "measured":
                notes.append(f"  {label} {r.dtype} N={r.n}: {c.note}")
    if o["quick"]:
        notes.append(f"  --quick: reference at N={o['reference_n']} only; torch.func, neural-tangents "
                     "and the memory rows are in the full report (ntkfast bench --suite empirical).")
    if any(c.contended for r in rows for c in (r.fast, r.reference, r.floor, r.fwd_bwd, r.torch, r.nt)):
        notes.append(f"  ! = other processes used more than {B.BUSY_CPUS} CPUs on average while this "
                     "cell was timed: its time is inflated, the ratio unreliable.")
    lines += notes

    if results["memory"]:
        lines += ["", "memory (each a single cold call in a fresh subprocess; peak RSS = VmHWM of that "
                  "process, baseline = its RSS before the call):"]
        header = ["case", "dtype", "N", "output", "memory_budget", "time", "peak RSS", "baseline",
                  "output size", "features", "blocked"]
        body = []
        for mm in results["memory"]:
            mr = MemoryRow(**{**mm, "widths": tuple(mm["widths"])})
            if mr.status != "measured":
                body.append([mr.label, mr.dtype, str(mr.n), mr.output, "", "error", "", "", "", "", ""])
                continue
            t = Timing("measured", mr.seconds, others_cpus=mr.others_cpus)
            budget = (f"{mr.memory_budget / 2**20:.0f} MiB" if mr.memory_budget
                      else f"default ({mr.budget_used / 2**30:.2f} GiB)")
            body.append([mr.label, mr.dtype, str(mr.n), mr.output, budget, B._fmt_s(t), _gb(mr.peak_rss),
                         _gb(mr.baseline_rss), _gb(mr.output_bytes), _gb(mr.feature_bytes),
                         "yes" if mr.blocked else "no"])
        lines += ["  " + s for s in B._table(header, body, right={2, 5, 6, 7, 8, 9})]
        for mm in results["memory"]:
            if mm["status"] != "measured":
                lines.append(f"  error: {mm['label']} {mm['dtype']}: {mm['note']}")

    lines += ["", "checks (targets from the issue, item 8: widths [32, 1024, 1024, 1], N = 2048"
              + ("" if tuple(o["widths"]) == HEADLINE_WIDTHS and o["n"] == HEADLINE_N
                 else "; at other sizes indicative only") + "):"]
    def value(c):
        v = c["value"]
        if v is None:
            return "-"
        if c["format"] == "e":
            return f"{v:.1e}"
        if c["format"] == "GB":
            return f"{v:.2f} GB"
        return f"{v:.0f}x" if v >= 100 else f"{v:.2f}x"
    lines += B.checks_and_total(results, value, "empirical section")
    return "\n".join(s.rstrip() for s in lines)


def save_json(results: dict, path: str) -> None:
    B.save_json(results, path)


def _main(argv) -> int:  # pragma: no cover - the subprocess of measure_memory
    if len(argv) == 2 and argv[0] == "memory":
        print(json.dumps(_memory_worker(json.loads(argv[1]))))
        return 0
    print("usage: python -m ntkfast._bench_empirical memory SPEC_JSON", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main(sys.argv[1:]))
