"""The train part of the dynamics section of ``ntkfast bench`` (see ``dynamics``): ntkfast.train
against the numpy reference's loop and against numpy's BLAS floor (the step's matrix products
alone)."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from .dynamics_setup import (SEED, TRAIN_LR, Options, relative_error, stage_logger, timed, timed_product,
                             train_problem)
from .reporting import fmt_s
from .timing import Timing


def floor_products(net, x: np.ndarray):
    """[(label, call)]: numpy's matrix products of one gradient-descent step, each writing into a
    preallocated array, on activations and deltas of the right shapes and dtype."""
    from .._mlp import checked

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


def train_section(opts: Options, progress, started) -> dict:
    """The train part's results (JSON-ready)."""
    import ntkfast
    from ntkfast import reference

    say = stage_logger(progress, started)

    net, x, y = train_problem(opts.train_widths, opts.train_n, opts.train_dtype)
    kw = dict(lr=TRAIN_LR, steps=opts.train_steps, progress=False)
    out = {"widths": list(opts.train_widths), "n": opts.train_n, "steps": opts.train_steps,
           "dtype": opts.train_dtype, "lr": TRAIN_LR, "n_params": int(net.n_params)}
    say(f"ntkfast.train {list(opts.train_widths)} N={opts.train_n} {opts.train_steps} steps "
        f"{opts.train_dtype}...")
    box = {}
    out["fast"] = timed(lambda: ntkfast.train(net, x, y, n_threads=opts.threads, **kw), opts, box)
    fast = box.pop("out", None)
    say(f"  {fmt_s(out['fast'])}")
    if fast is not None:
        out["final_loss"] = float(np.asarray(fast.loss)[-1])
        out["initial_loss"] = float(np.asarray(fast.loss)[0])
    if opts.reference:
        say("reference.train...")
        box = {}
        out["reference"] = timed(lambda: reference.train(net, x, y, **kw), opts, box)
        ref = box.pop("out", None)
        say(f"  {fmt_s(out['reference'])}")
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
        cell = timed_product(call, opts.product_repeat)
        parts.append({"product": label, "timing": cell})
    out["floor_parts"] = parts
    if all(p["timing"].known for p in parts):
        per_step = sum(p["timing"].seconds for p in parts)
        contended = max((p["timing"].others_cpus or 0) for p in parts) or None
        out["floor"] = Timing("measured", per_step * opts.train_steps, others_cpus=contended,
                              note="sum of best-of products x steps")
    else:
        out["floor"] = Timing("error", note="a product failed")
    say(f"  floor {fmt_s(out['floor'])}")
    for key in ("fast", "reference", "floor"):
        out[key] = asdict(out[key])
    for p in parts:
        p["timing"] = asdict(p["timing"])
    return out
