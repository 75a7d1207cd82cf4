"""neural-tangents' empirical NTK of an ntkfast MLP, for ``ntkfast bench`` (empirical section).

This file imports only numpy, jax and neural_tangents (and ntkfast's ``bench/timing.py``, loaded
by path, for the timing loop), so that it also runs as a script in another Python environment:
neural-tangents 0.6 wants numpy < 2 and an old jax, which need not be where ntkfast is.

    python nt_empirical_worker.py SPEC.json

SPEC.json names an .npz with ``x``, ``weight_0``.., ``bias_0``.. and says ``activation``,
``weight_std``, ``bias_std``, ``dtypes``, ``output``, ``repeat`` and ``result`` (an .npz path the
kernels are written to). The script prints one JSON line: the versions and, per dtype, a
``timing.Timing`` as a dict.

The network is ``stax.serial(Dense, act, ..., Dense)`` in the NTK parameterization with ntkfast's
arrays (stax stores W as (n_in, n_out): the transpose); the kernel is
``empirical_ntk_fn(..., vmap_axes=0, implementation=STRUCTURED_DERIVATIVES)`` under ``jax.jit``,
with ``trace_axes=(-1,)`` for ``output="trace"`` (neural-tangents divides the trace by n_L, as
ntkfast's mean does) and ``()`` for ``"full"``. Compilation happens in the untimed warm-up call.
The x64 flag is set per dtype: with it off jax computes in float32, with it on in the arrays'
precision, and the result's dtype is checked.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
from dataclasses import asdict

import numpy as np


def versions() -> str:
    import jax
    import neural_tangents

    return (f"{getattr(neural_tangents, '__version__', 'unknown')} "
            f"(jax {getattr(jax, '__version__', 'unknown')})")


def jax_precision(dtype: str):
    """A context in which jax computes in ``dtype``: neural-tangents casts its inputs to float64
    when jax_enable_x64 is on and to float32 when it is off, whatever their dtype."""
    import jax

    on = dtype == "float64"
    exp = getattr(jax, "experimental", None)
    manager = getattr(exp, "enable_x64" if on else "disable_x64", None)
    if manager is not None:
        return manager()

    @contextlib.contextmanager
    def toggle():
        before = jax.config.jax_enable_x64
        jax.config.update("jax_enable_x64", on)
        try:
            yield
        finally:
            jax.config.update("jax_enable_x64", before)
    return toggle()


def _activation(stax, name: str):
    import jax.numpy as jnp

    if name == "relu":
        return stax.Relu()
    if name == "erf":
        return stax.Erf()
    if name == "tanh":
        return stax.Elementwise(fn=jnp.tanh)
    raise ValueError(f"neural-tangents comparison: no {name!r} layer here")


def caller(x, weights, biases, *, activation: str, weight_std: float, bias_std: float,
           dtype: str, output: str = "trace"):
    """A no-argument function returning neural-tangents' empirical NTK of x (x2=None) as a
    jax array (block_until_ready), in ``dtype``; the first call compiles."""
    import jax
    import neural_tangents as nt
    from neural_tangents import stax

    if output not in ("trace", "full"):
        raise ValueError(f"output: expected 'trace' or 'full', got {output!r}")
    layers, params = [], []
    for l, (w, b) in enumerate(zip(weights, biases)):
        layers.append(stax.Dense(w.shape[0], W_std=weight_std, b_std=bias_std,
                                 parameterization="ntk"))
        if l < len(weights) - 1:
            layers.append(_activation(stax, activation))
    _, apply_fn, _ = stax.serial(*layers)
    ntk_fn = nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,) if output == "trace" else (),
                                 vmap_axes=0,
                                 implementation=nt.NtkImplementation.STRUCTURED_DERIVATIVES)
    fn = jax.jit(lambda xs, ps: ntk_fn(xs, None, ps))
    with jax_precision(dtype):
        jnp = jax.numpy
        xj = jnp.asarray(np.asarray(x, dtype=dtype))
        for l, (w, b) in enumerate(zip(weights, biases)):
            params.append((jnp.asarray(np.ascontiguousarray(np.asarray(w, dtype=dtype).T)),
                           jnp.asarray(np.asarray(b, dtype=dtype))))
            if l < len(weights) - 1:
                params.append(())

    def call():
        with jax_precision(dtype):
            out = fn(xj, params).block_until_ready()
        if out.dtype != np.dtype(dtype):  # a row must not be timed in another precision
            raise TypeError(f"neural-tangents returned {out.dtype} for a {dtype} row")
        return out
    return call


def _load_timing():
    """ntkfast's bench/timing.py by path (stdlib only), without importing ntkfast: the
    environment this runs in may hold another ntkfast, or none."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "timing.py")
    spec = importlib.util.spec_from_file_location("_ntkfast_bench_timing", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def main(argv) -> int:
    with open(argv[0]) as f:
        spec = json.load(f)
    timing = _load_timing()
    try:
        version = versions()
    except Exception as exc:  # not importable here: say so, the caller reports it
        print(json.dumps({"status": f"import failed ({type(exc).__name__}: {exc})"}))
        return 0
    data = np.load(spec["data"])
    depth = sum(1 for k in data.files if k.startswith("weight_"))
    weights = [data[f"weight_{l}"] for l in range(depth)]
    biases = [data[f"bias_{l}"] for l in range(depth)]
    cells, kernels = {}, {}
    for dt in spec["dtypes"]:
        box = {}

        def make(dt=dt, box=box):
            inner = caller(data["x"], weights, biases, activation=spec["activation"],
                           weight_std=spec["weight_std"], bias_std=spec["bias_std"], dtype=dt,
                           output=spec["output"])

            def call():
                box["out"] = inner()
            return call
        cell = timing.safe_time(make, spec["repeat"])
        cells[dt] = asdict(cell)
        if "out" in box:
            kernels[dt] = np.asarray(box.pop("out"))
    np.savez(spec["result"], **kernels)
    print(json.dumps({"status": "ok", "version": version, "cells": cells}))
    return 0


if __name__ == "__main__":  # pragma: no cover - run by ntkfast bench in another environment
    sys.exit(main(sys.argv[1:]))
