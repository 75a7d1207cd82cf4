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
  (``peers.nt_empirical``), in this process when importable, else in the interpreter given by
  ``--nt-python`` (its environment needs numpy, jax and neural_tangents, not ntkfast).
Each comparator's result is compared with ntkfast's: max |K - K_ntkfast| / max |K_ntkfast|.

Timing as in ``timing``: one untimed warm-up call of the same size, then the best of up to
``repeat`` calls (stopping after 5 s of timed calls), "!" where other processes used more than a
quarter of a CPU meanwhile. torch.func is timed once after its warm-up (``torch_repeat``): one call
takes about a minute at N = 2048. ntkfast, the reference and the floor are timed first, the
comparators after them, so torch's and XLA's thread pools do not exist yet while ntkfast runs.

Memory rows (full report only): n_L = 10 with output="full" at N = 2048, and N = 20000 with
output="trace" (default memory budget, and a 256 MiB budget that forces row blocks). Each runs
in a fresh subprocess (``empirical_memory``: ``python -m ntkfast.bench.empirical_memory SPEC``)
so that its peak resident memory (VmHWM) belongs to that one call; the time is of that single,
cold call.

This module runs the section (``run``); ``empirical_setup`` holds what it measures,
``empirical_report`` its checks and report, ``peers`` the comparators.
"""
from __future__ import annotations

import gc
import sys
import time
from dataclasses import asdict
from typing import Optional

import numpy as np

from .empirical_memory import measure_memory
from .empirical_report import checks, report
from .empirical_setup import (ACTIVATION, BIAS_STD, HEADLINE_WIDTHS, N_FEATURES, SEED, TOLERANCE, WEIGHT_STD,
                              Options, Row, inputs, n_params, network, options)
from .machine import loadavg, machine_info
from .peers.nt_empirical import NeuralTangentsEmpirical
from .peers.torch_func import TorchFunc
from .reporting import fmt_s
from .timing import Timing, best_of, busy_seconds, keeping, others_cpus, own_and_children_seconds, safe_time

# The section's interface: the command calls options, run and report; the pytest-benchmark file
# (benchmarks/test_bench_empirical.py) builds the headline problem (HEADLINE_WIDTHS, N_FEATURES,
# SEED, _net), and times floor_callers and torch.func (_Torch) against TOLERANCE, from here too.
__all__ = ["options", "run", "report", "checks", "floor_callers", "HEADLINE_WIDTHS", "N_FEATURES",
           "SEED", "TOLERANCE"]
_net, _Torch = network, TorchFunc


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
    from .._mlp import checked
    from .._numpy_mlp import features

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


# ---------------------------------------------------------------- running

def run(opts: Options, progress=None) -> dict:
    """Time every row; returns the results dict that :func:`report` prints."""
    import ntkfast
    from ntkfast import reference

    if progress is None:
        progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    busy0, own0 = busy_seconds(), own_and_children_seconds()
    torch = TorchFunc() if opts.torch else None
    nt = NeuralTangentsEmpirical(opts.nt_python) if opts.nt else None
    info = _info(opts, torch, nt)
    fast_fn = getattr(ntkfast, "empirical_ntk", None)

    sizes = [opts.n] + ([opts.reference_n] if opts.reference and opts.reference_n
                        and opts.reference_n != opts.n else [])
    x_all = inputs(max(sizes), opts.widths[0])
    nets = {dt: network(opts.widths, dt) for dt in opts.dtypes}
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
                fast = safe_time(lambda: keeping(
                    lambda: fast_fn(net, x, n_threads=opts.threads), box), opts.repeat)
            outputs[(dt, n)] = box.pop("out", None)
            gram, fwd_bwd = floor_callers(net, x, dt)
            floor = best_of(gram, opts.repeat)
            fb = best_of(fwd_bwd, opts.repeat)
            del gram, fwd_bwd
            gc.collect()
            row = Row(dt, n, tuple(opts.widths), fast, Timing("skipped"), floor, fb,
                      Timing("skipped"), Timing("skipped"))
            if not opts.reference:
                row.reference = Timing("off")
            elif n == (opts.reference_n or opts.n):
                box = {}
                row.reference = safe_time(lambda: keeping(
                    lambda: reference.empirical_ntk(net, x), box), opts.repeat)
                _add_deviation(row, "reference", box.pop("out", None), outputs[(dt, n)])
            gc.collect()
            rows.append(row)
            progress(f"[empirical {step}/{total_steps}, {time.perf_counter() - started:.0f} s] "
                     f"{dt} N={n}: ntkfast {fmt_s(fast)}, Gram floor {fmt_s(floor)}, "
                     f"fwd/bwd {fmt_s(fb)}, reference {fmt_s(row.reference)}")

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
                return keeping(call, box)
            progress(f"[empirical, {time.perf_counter() - started:.0f} s] torch.func {dt} N={opts.n} "
                     "(about a minute per call at N=2048, warm-up included)...")
            row.torch = safe_time(make, opts.torch_repeat)
            if blocks[0] > 1:
                row.torch.note = f"Jacobians in {blocks[0]} row blocks"
            _add_deviation(row, "torch", box.pop("out", None), outputs[(dt, opts.n)])
            gc.collect()
            progress(f"  torch.func {dt}: {fmt_s(row.torch)}")
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
        progress("  neural-tangents: " + ", ".join(f"{dt} {fmt_s(head[dt].nt)}" for dt in opts.dtypes))

    memory = []
    if opts.memory:
        for i, case in enumerate(opts.memory_cases, 1):
            progress(f"[empirical memory {i}/{len(opts.memory_cases)}, "
                     f"{time.perf_counter() - started:.0f} s] {case[0]} {case[4]}...")
            memory.append(measure_memory(case, opts.threads))

    total = time.perf_counter() - started
    others = others_cpus(busy0, own0, busy_seconds(), own_and_children_seconds(), total)
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
        "load_average_at_end": loadavg(),
    }
    results["checks"] = checks(results)
    return results


def _info(opts: Options, torch: Optional[TorchFunc], nt: Optional[NeuralTangentsEmpirical]) -> dict:
    base = machine_info(opts.threads, neural_tangents="off")
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


def _floor_description(widths, n) -> str:
    L = len(widths) - 1
    parts = [f"A{l}A{l}^T ({n}x{widths[l]})" for l in range(L)]
    parts += [f"D{l}D{l}^T ({n}x{widths[-1] * widths[l + 1]})" for l in range(L - 1)]
    return ", ".join(parts)


def _add_deviation(row: Row, name: str, k, fast_out) -> None:
    if k is not None and fast_out is not None:
        row.deviation[name] = _deviation(k, fast_out)
