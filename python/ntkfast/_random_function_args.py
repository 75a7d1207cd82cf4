"""Argument parsing for ntkfast.random_functions and its numpy twin: same inputs, same errors."""
from __future__ import annotations

import numpy as np

from . import _spectra_args as spectra_args
from . import _validation as V
from ._dynamics_args import times
from ._empirical_passes import DEFAULT_MEMORY_BUDGET
from ._prior_draws import METHODS
from .networks import _rng, _widths

LOSSES = {"mse": "mse", "cross_entropy": "cross_entropy", "ce": "cross_entropy"}


def prior(kernel, n_draws, x, n_outputs, method, seed, n_threads):
    """(Gram, N, P, O, method, rng) for gp_prior_draws."""
    p = spectra_args.positive_count(n_draws, "n_draws")
    o = spectra_args.positive_count(n_outputs, "n_outputs")
    method = V.choice(method, "method", METHODS)
    rng = _rng(seed)
    if spectra_args.is_kernel_object(kernel):
        if x is None:
            raise ValueError(f"x: a kernel object ({type(kernel).__name__}) needs the points x")
        k, n = spectra_args.gram(kernel(x, n_threads=n_threads), None, "kernel(x)")
    else:
        k, n = spectra_args.gram(kernel, x)
    if k.shape[0] != n and o != 1:
        raise ValueError(f"n_outputs: full output blocks fix the outputs ({k.shape[0] // n}); "
                         f"n_outputs is for scalar Grams, got {o}")
    return k, n, p, o, method, rng


def seeds(seed, count: int) -> list[int]:
    """One integer seed per random network, drawn from ``seed``: reproducible, and the same
    networks whenever the same list is walked again (row blocks)."""
    return [int(s) for s in _rng(seed).integers(0, 2**63 - 1, size=count)]


def networks(widths, n_draws, seed):
    ws = _widths(widths)
    p = spectra_args.positive_count(n_draws, "n_draws")
    return ws, p, seeds(seed, p)


def functions(f) -> tuple[np.ndarray, bool]:
    """f as float64 (P, N, O), and whether it came as (P, N)."""
    try:
        arr = np.asarray(f)
    except ValueError as exc:
        raise ValueError(f"f: expected an array of shape (P, N) or (P, N, O); {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"f: expected real numbers, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3) or 0 in arr.shape:
        raise ValueError(f"f: expected a non-empty array of shape (P, N) or (P, N, O) (P random "
                         f"functions on N points), got shape {arr.shape}")
    out = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(out).all():
        raise ValueError("f: contains NaN or infinity")
    return (out[:, :, None] if arr.ndim == 2 else out), arr.ndim == 2


def theta(value, p: int, name: str = "theta") -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    if arr.shape != (p,):
        raise ValueError(f"{name}: expected shape ({p},) (one parameter per random function), "
                         f"got shape {arr.shape}")
    out = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(out).all():
        raise ValueError(f"{name}: contains NaN or infinity")
    return out


def flin_gd(f, y, t, loss, theta0, dt):
    ff, one = functions(f)
    p, n, o = ff.shape
    name = loss.strip().lower() if isinstance(loss, str) else loss
    kind = LOSSES.get(V.choice(name, "loss", tuple(LOSSES)))
    want = (n,) if one else (n, o)
    yy = np.asarray(y)
    if yy.dtype == object or yy.dtype.kind not in "biuf":
        raise TypeError(f"y: expected real numbers, got dtype {yy.dtype}")
    if yy.shape != want:
        raise ValueError(f"y: expected shape {want} to match f of shape {np.shape(f)}, got "
                         f"shape {yy.shape}")
    yy = np.asarray(yy, dtype=np.float64).reshape(n, o)
    if not np.isfinite(yy).all():
        raise ValueError("y: contains NaN or infinity")
    if kind == "cross_entropy":
        if o < 2:
            raise ValueError(f"loss: cross-entropy needs at least 2 outputs, got f of shape "
                             f"{np.shape(f)}")
        if (yy < 0).any() or not np.allclose(yy.sum(axis=1), 1.0, rtol=0, atol=1e-5):
            raise ValueError("y: cross-entropy targets must be probabilities (rows >= 0 summing to 1)")
    ts = times(t, allow_inf=kind == "mse", who="flin_gd")
    th0 = np.zeros(p) if theta0 is None else theta(theta0, p, "theta0")
    if dt is not None:
        dt = spectra_args.positive(dt, "dt")
    return ff, one, yy, ts, th0, kind, dt


def monte_carlo(x1, x2, depth, width, n_networks, n_outputs, seed, memory_budget):
    a = V.points(x1, "x1", np.dtype(np.float64))
    b = None if x2 is None else V.points(x2, "x2", np.dtype(np.float64), a.shape[1])
    depth = V.depth(depth)
    width = spectra_args.positive_count(width, "width")
    n = spectra_args.positive_count(n_networks, "n_networks")
    if n < 2:
        raise ValueError(f"n_networks: expected at least 2 networks (a standard error needs two), "
                         f"got {n}")
    o = spectra_args.positive_count(n_outputs, "n_outputs")
    budget = V.memory_budget(memory_budget)
    if budget is None:  # as empirical_ntk's default: 4 GiB or a quarter of the free memory
        budget = int(min(DEFAULT_MEMORY_BUDGET, V.available_memory_bytes() // 4))
    widths = [a.shape[1]] + [width] * (depth - 1) + [o]
    return a, b, widths, n, seeds(seed, n), budget
