"""Nonlinearities φ and how their infinite-width dual kernels are computed.

Closed forms (ntk-math.md §2): ``relu``, ``leaky_relu``, ``abs``, ``erf``, ``identity``, ``sin``,
and ``elu`` (bivariate normal CDFs, ``_bivariate.py``). Everything else (``tanh``, ``sigmoid``,
``softplus``, ``gelu``, ``silu`` and a user's own function) goes through the Mehler / Hermite
expansion of ``_mehler.py``.

Pass a name (``activation="tanh"``), an object made here (``leaky_relu(0.2)``, ``elu(alpha=0.5)``)
or any vectorised callable ``f(np.ndarray) -> np.ndarray`` (wrapped by :func:`custom`).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np

Array = np.ndarray

__all__ = [
    "Activation", "relu", "leaky_relu", "abs", "erf", "identity", "sin", "tanh", "sigmoid",
    "softplus", "gelu", "silu", "elu", "custom", "get_activation", "NAMES",
]


@dataclass(frozen=True, eq=False)
class Activation:
    """A nonlinearity φ with what the kernels need to know about it.

    ``dual`` says how E[φ(u)φ(v)] is evaluated: ``"relu_like"`` (a·min(z,0) + b·max(z,0) with
    ``slopes = (a, b)``), ``"erf"``, ``"identity"``, ``"sin"``, ``"elu"`` (parameter ``alpha``)
    (closed forms) or ``"mehler"`` (numerical Hermite expansion of ``fn``). ``derivative`` is φ′ where known; the Mehler method
    only needs it at 0, and estimates it by finite differences when it is missing.
    """

    name: str
    fn: Callable[[Array], Array]
    derivative: Callable[[Array], Array] | None
    dual: str
    slopes: tuple[float, float] = (0.0, 1.0)
    alpha: float = 1.0
    odd: bool = False  # φ(-z) = -φ(z) exactly: halves the work of the Mehler coefficients
    compiled: str | None = None  # name of the C++ pointwise φ, φ' (built-in objects only)

    def __call__(self, z):
        return self.fn(np.asarray(z, dtype=float))

    def __repr__(self) -> str:
        if self.dual == "relu_like" and self.name == "leaky_relu":
            return f"leaky_relu(negative_slope={self.slopes[0]!r})"
        if self.dual == "elu":
            return f"elu(alpha={self.alpha!r})"
        return f"Activation({self.name!r})"


def _erf_array(z: Array) -> Array:
    """Elementwise erf. numpy has none; math.erf is correctly rounded to < 1 ulp in practice."""
    z = np.asarray(z, dtype=float)
    return _erf_ufunc(z).astype(float)


_erf_ufunc = np.frompyfunc(math.erf, 1, 1)


def _relu_like(name: str, a: float, b: float) -> Activation:
    return Activation(
        name,
        lambda z: a * np.minimum(z, 0.0) + b * np.maximum(z, 0.0),
        lambda z: np.where(z > 0, b, a).astype(float),
        "relu_like",
        (float(a), float(b)),
    )


def relu() -> Activation:
    return _relu_like("relu", 0.0, 1.0)


def _finite_parameter(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return v


def leaky_relu(negative_slope: float = 0.01) -> Activation:
    return _relu_like("leaky_relu", _finite_parameter(negative_slope, "negative_slope"), 1.0)


def abs() -> Activation:  # noqa: A001 - the activation's usual name
    return _relu_like("abs", -1.0, 1.0)


def erf() -> Activation:
    return Activation(
        "erf", _erf_array, lambda z: 2.0 / math.sqrt(math.pi) * np.exp(-np.square(z)), "erf"
    )


def identity() -> Activation:
    return Activation("identity", lambda z: np.array(z, dtype=float), np.ones_like, "identity")


def sin() -> Activation:
    return Activation("sin", np.sin, np.cos, "sin")


def tanh() -> Activation:
    return Activation("tanh", np.tanh, lambda z: 1.0 - np.tanh(z) ** 2, "mehler", odd=True,
                      compiled="tanh")


def _sigmoid(z: Array) -> Array:
    # Two-sided form: no overflow warning for large |z|.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid() -> Activation:
    return Activation("sigmoid", _sigmoid, lambda z: _sigmoid(z) * _sigmoid(-z), "mehler",
                      compiled="sigmoid")


def softplus() -> Activation:
    return Activation("softplus", lambda z: np.logaddexp(0.0, z), _sigmoid, "mehler",
                      compiled="softplus")


def _std_normal_cdf(z: Array) -> Array:
    return 0.5 * (1.0 + _erf_array(np.asarray(z) / math.sqrt(2.0)))


def gelu() -> Activation:
    """Exact GELU, z·Φ(z) (not the tanh approximation)."""
    return Activation(
        "gelu",
        lambda z: z * _std_normal_cdf(z),
        lambda z: _std_normal_cdf(z) + z * np.exp(-0.5 * np.square(z)) / math.sqrt(2 * math.pi),
        "mehler",
        compiled="gelu",
    )


def silu() -> Activation:
    return Activation(
        "silu",
        lambda z: z * _sigmoid(z),
        lambda z: _sigmoid(z) * (1.0 + z * _sigmoid(-z)),
        "mehler",
        compiled="silu",
    )


def elu(alpha: float = 1.0) -> Activation:
    a = _finite_parameter(alpha, "alpha")
    return Activation(
        "elu",
        lambda z: np.where(z > 0, z, a * np.expm1(np.minimum(z, 0.0))),
        lambda z: np.where(z > 0, 1.0, a * np.exp(np.minimum(z, 0.0))),
        "elu",
        alpha=a,
    )


def custom(fn: Callable[[Array], Array], derivative: Callable[[Array], Array] | None = None,
           name: str | None = None) -> Activation:
    """A user's φ, evaluated numerically. ``fn`` must accept and return float64 arrays
    elementwise; ``derivative`` (φ′) is optional."""
    if not callable(fn):
        raise TypeError(f"activation: expected a callable, got {type(fn).__name__}")
    if derivative is not None and not callable(derivative):
        raise TypeError(f"derivative: expected a callable or None, got {type(derivative).__name__}")
    label = name or getattr(fn, "__name__", "custom")
    return Activation(label, _elementwise(fn, label, "φ"),
                      None if derivative is None else _elementwise(derivative, label, "φ′"), "mehler")


def _elementwise(f: Callable[[Array], Array], label: str, what: str) -> Callable[[Array], Array]:
    """f checked as an elementwise function: real values of its input's shape (a 0-d result,
    e.g. a constant φ′, is broadcast), finite wherever the input is. Without the checks a wrong
    shape broadcast silently or failed deep inside a matrix product, a complex result lost its
    imaginary part, and a NaN surfaced as an 'overflow'."""
    def call(z):
        out = np.asarray(f(z))
        if out.dtype == object or out.dtype.kind not in "biuf":
            raise TypeError(f"activation: {label}'s {what} must return real numbers, got dtype {out.dtype}")
        if out.shape != np.shape(z):
            if out.ndim:
                raise ValueError(f"activation: {label}'s {what} must return an array of its input's "
                                 f"shape {np.shape(z)} (elementwise), got {out.shape}")
            out = np.full(np.shape(z), float(out))
        out = out.astype(float, copy=False)
        if not np.isfinite(out).all() and np.isfinite(z).all():
            bad = np.argwhere(~np.isfinite(out))[0]
            raise ValueError(f"activation: {label}'s {what} returned {out[tuple(bad)]} for the finite "
                             f"input {np.asarray(z)[tuple(bad)]!r}")
        return out
    return call


_FACTORIES = {
    "relu": relu, "leaky_relu": leaky_relu, "abs": abs, "erf": erf, "identity": identity,
    "sin": sin, "tanh": tanh, "sigmoid": sigmoid, "softplus": softplus, "gelu": gelu,
    "silu": silu, "elu": elu,
}
NAMES = tuple(_FACTORIES)


def get_activation(spec) -> Activation:
    """Resolve the ``activation=`` argument of every kernel function."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower().replace("-", "_")
        if key not in _FACTORIES:
            raise ValueError(
                f"activation: unknown name {spec!r}; expected one of {', '.join(NAMES)}, "
                "an ntkfast.activations object or a callable"
            )
        return _FACTORIES[key]()
    if callable(spec):
        return custom(spec)
    raise TypeError(
        f"activation: expected a name, an ntkfast.activations object or a callable, got {type(spec).__name__}"
    )
