"""Finite fully-connected networks (ntk-math.md §1) as plain numpy parameters.

    >>> net = ntkfast.init_mlp([32, 1024, 1024, 1], activation="relu", seed=0)
    >>> f = net(x)                                   # (N, 1), forward pass in C++
    >>> net.weights[0].shape                         # (1024, 32): (n_{l+1}, n_l)

Two parameterizations, both z^(l+1) = s_w · W^(l) a^(l) + s_b · b^(l):

- ``"ntk"`` (the paper's, default): parameters ~ N(0, 1), s_w = σ_w / sqrt(n_l), s_b = β.
- ``"standard"`` (how PyTorch and Flax store a model): the arrays are the effective weights,
  s_w = s_b = 1; ``weight_std`` and ``bias_std`` only say how :func:`init_mlp` draws them
  (W ~ N(0, σ_w²/n_l), b ~ N(0, β²)).

The tangent kernel is taken with respect to the stored arrays, so the two parameterizations give
different empirical NTKs for the same function (they differ by n_l per layer). Only ``"ntk"``
converges to :func:`ntkfast.ntk` as the widths grow.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import _validation as V
from ._mlp import PARAMETERIZATIONS, MLPParameters, _parameterization
from .empirical import apply

__all__ = ["MLP", "init_mlp", "PARAMETERIZATIONS"]


class MLP(MLPParameters):
    """A multilayer perceptron with L = ``depth`` weight layers.

    ``weights[l]`` has shape (n_{l+1}, n_l) and ``biases[l]`` shape (n_{l+1},); all float32 or all
    float64 (the network's dtype, in which it is evaluated). They are ordinary lists of numpy
    arrays: read them, replace them, train them; every call re-checks them. ``net(x)`` is the
    forward pass in C++ (:func:`ntkfast.apply`).
    """

    def __call__(self, x, *, n_threads=None) -> np.ndarray:
        return apply(self, x, n_threads=n_threads)


def _widths(widths) -> list[int]:
    try:
        ws = list(widths)
    except TypeError:
        raise TypeError(f"widths: expected a sequence of layer widths (n_0, ..., n_L), got {widths!r}") from None
    if len(ws) < 2:
        raise ValueError(f"widths: expected at least two widths (input and output), got {ws}")
    ws = [V.scalar(n) for n in ws]
    for n in ws:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"widths: expected positive integers, got {ws}")
    return [int(n) for n in ws]


_SEED_EXPECTED = ("None, a non-negative integer (or a sequence of them), or a numpy SeedSequence, "
                  "BitGenerator or Generator")


def _rng(seed) -> np.random.Generator:
    """numpy.random.default_rng(seed), with errors that name ``seed`` (numpy's say "SeedSequence
    expects int ..." or "expected non-negative integer"). A 0-d integer array counts as its
    integer (numpy refused it with "len() of unsized object"); bools are refused, as for every
    integer argument here (numpy would take True as 1)."""
    if isinstance(seed, np.ndarray) and seed.ndim == 0:
        seed = seed[()]
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"seed: expected {_SEED_EXPECTED}, got {seed!r}")
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"seed: expected {_SEED_EXPECTED}, got {seed!r} ({exc})") from None


def init_mlp(widths, *, activation="relu", weight_std=1.0, bias_std=0.0, parameterization="ntk",
             seed=None, dtype=np.float64) -> MLP:
    """Draw an MLP with widths (n_0, ..., n_L).

    ``"ntk"``: all parameters N(0, 1). ``"standard"``: W^(l) ~ N(0, σ_w²/n_l), b^(l) ~ N(0, β²).
    ``seed`` is anything ``numpy.random.default_rng`` accepts except a bool (a 0-d integer array
    counts as its integer); draws are made in float64 and cast,
    so float32 and float64 networks of one seed hold the same numbers up to rounding.
    """
    ws = _widths(widths)
    dt = V.working_dtype(dtype)
    sw = V.nonnegative(weight_std, "weight_std")
    sb = V.nonnegative(bias_std, "bias_std")
    _parameterization(parameterization)  # before drawing: a typo must not cost the draws
    rng = _rng(seed)
    n_params = sum((a + 1) * b for a, b in zip(ws[:-1], ws[1:]))
    V.check_output_fits(n_params * (8 + dt.itemsize), f"an MLP with {n_params} parameters",
                        "use smaller widths")
    weights, biases = [], []
    for n_in, n_out in zip(ws[:-1], ws[1:]):
        w = rng.standard_normal((n_out, n_in))
        b = rng.standard_normal(n_out)
        with np.errstate(over="ignore"):  # a std too large for dtype: refused just below
            if parameterization == "standard":
                w *= sw / math.sqrt(n_in)
                b *= sb
            w, b = w.astype(dt), b.astype(dt)
        for arr, name, value in ((w, "weight_std", sw), (b, "bias_std", sb)):
            if not np.isfinite(arr).all():
                raise ValueError(f"{name}: {value!r} draws parameters beyond {dt}'s range (largest "
                                 f"{np.finfo(dt).max:.3g}); use a smaller {name} or float64")
        weights.append(w)
        biases.append(b)
    return MLP(weights, biases, activation=activation, weight_std=sw, bias_std=sb,
               parameterization=parameterization)
