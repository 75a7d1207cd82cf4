"""Nonlinearities φ and how their infinite-width dual kernels are computed.

Closed forms (ntk-math.md §2): ``relu``, ``leaky_relu``, ``abs``, ``erf``, ``identity``, ``sin``,
and ``elu`` (bivariate normal CDFs, ``_bivariate.py``). Everything else (``tanh``, ``sigmoid``,
``softplus``, ``gelu``, ``silu`` and a user's own function) goes through the Mehler / Hermite
expansion of ``_mehler.py``.

Pass a name (``activation="tanh"``), an object made here (``leaky_relu(0.2)``, ``elu(alpha=0.5)``)
or any vectorised callable ``f(np.ndarray) -> np.ndarray`` (wrapped by :func:`custom`).

Pickling (multiprocessing, Dask): an object made here pickles as the call that made it
(``leaky_relu(0.2)``, ``custom(fn, derivative, name)``), so the built-in functions inside it
never need to; a user's functions pickle by reference when they are importable (module level),
by value through cloudpickle when it is installed, and otherwise fail with a PicklingError that
says so.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import pickle
import sys
import types
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _validation as V

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

    def __reduce_ex__(self, protocol):
        recipe = vars(self).get("_recipe")
        if recipe is None:  # built directly: pickled field by field
            return super().__reduce_ex__(protocol)
        factory, args = recipe
        if factory is custom:
            fn, derivative, name = args
            args = (_portable(fn, self.name, "φ"), _portable(derivative, self.name, "φ′"), name)
        return factory, args

    # Immutable: copies may share it (and must not pickle a user's lambda to copy it).
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

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


def _made(act: Activation, factory: Callable, *args) -> Activation:
    """Mark ``act`` as made by ``factory(*args)`` here: its functions are ours or already guarded
    (get_activation guards the rest)."""
    object.__setattr__(act, "_recipe", (factory, args))
    return act


def relu() -> Activation:
    return _made(_relu_like("relu", 0.0, 1.0), relu)


def _finite_parameter(value, name: str) -> float:
    value = V.scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return v


def leaky_relu(negative_slope: float = 0.01) -> Activation:
    slope = _finite_parameter(negative_slope, "negative_slope")
    return _made(_relu_like("leaky_relu", slope, 1.0), leaky_relu, slope)


def abs() -> Activation:  # noqa: A001 - the activation's usual name
    return _made(_relu_like("abs", -1.0, 1.0), abs)


def erf() -> Activation:
    return _made(Activation(
        "erf", _erf_array, lambda z: 2.0 / math.sqrt(math.pi) * np.exp(-np.square(z)), "erf"
    ), erf)


def identity() -> Activation:
    return _made(Activation("identity", lambda z: np.array(z, dtype=float), np.ones_like, "identity"),
                 identity)


def sin() -> Activation:
    return _made(Activation("sin", np.sin, np.cos, "sin"), sin)


def tanh() -> Activation:
    return _made(Activation("tanh", np.tanh, lambda z: 1.0 - np.tanh(z) ** 2, "mehler", odd=True,
                            compiled="tanh"), tanh)


def _sigmoid(z: Array) -> Array:
    # Two-sided form: no overflow warning for large |z|.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid() -> Activation:
    return _made(Activation("sigmoid", _sigmoid, lambda z: _sigmoid(z) * _sigmoid(-z), "mehler",
                            compiled="sigmoid"), sigmoid)


def softplus() -> Activation:
    return _made(Activation("softplus", lambda z: np.logaddexp(0.0, z), _sigmoid, "mehler",
                            compiled="softplus"), softplus)


def _std_normal_cdf(z: Array) -> Array:
    return 0.5 * (1.0 + _erf_array(np.asarray(z) / math.sqrt(2.0)))


def _gelu_derivative(z):
    """Φ(z) + z φ(z); z φ(z) as z exp(-z²/2)/sqrt(2π) with z² allowed to overflow to inf (then
    exp gives the right 0) without numpy's warning: huge pre-activations are legitimate."""
    with np.errstate(over="ignore"):
        return _std_normal_cdf(z) + z * np.exp(-0.5 * np.square(z)) / math.sqrt(2 * math.pi)


def gelu() -> Activation:
    """Exact GELU, z·Φ(z) (not the tanh approximation)."""
    return _made(Activation(
        "gelu",
        lambda z: z * _std_normal_cdf(z),
        _gelu_derivative,
        "mehler",
        compiled="gelu",
    ), gelu)


def silu() -> Activation:
    return _made(Activation(
        "silu",
        lambda z: z * _sigmoid(z),
        lambda z: _sigmoid(z) * (1.0 + z * _sigmoid(-z)),
        "mehler",
        compiled="silu",
    ), silu)


def elu(alpha: float = 1.0) -> Activation:
    a = _finite_parameter(alpha, "alpha")
    return _made(Activation(
        "elu",
        lambda z: np.where(z > 0, z, a * np.expm1(np.minimum(z, 0.0))),
        lambda z: np.where(z > 0, 1.0, a * np.exp(np.minimum(z, 0.0))),
        "elu",
        alpha=a,
    ), elu, a)


def custom(fn: Callable[[Array], Array], derivative: Callable[[Array], Array] | None = None,
           name: str | None = None) -> Activation:
    """A user's φ, evaluated numerically. ``fn`` must accept and return float64 arrays
    elementwise; ``derivative`` (φ′) is optional. Both are called on copies of our arrays, so
    a function that writes into its argument (``np.tanh(z, out=z)``) is safe."""
    if not callable(fn):
        raise TypeError(f"activation: expected a callable, got {type(fn).__name__}")
    if derivative is not None and not callable(derivative):
        raise TypeError(f"derivative: expected a callable or None, got {type(derivative).__name__}")
    label = name or getattr(fn, "__name__", "custom")
    act = Activation(label, _Elementwise(fn, label, "φ"),
                     None if derivative is None else _Elementwise(derivative, label, "φ′"), "mehler")
    return _made(act, custom, fn, derivative, name)


class _Elementwise:
    """A user's φ or φ′, called on a copy of its argument and checked as an elementwise function:
    real values of its input's shape (a 0-d result, e.g. a constant φ′, is broadcast), finite
    wherever the input is. Without the checks a wrong shape broadcast silently or failed deep
    inside a matrix product, a complex result lost its imaginary part, and a NaN surfaced as an
    'overflow'.

    The copy: a function that writes into its argument (``np.tanh(z, out=z)``) used to overwrite
    our arrays. The Hermite coefficients evaluate φ(sqrt(k)·x) and then φ(−sqrt(k)·x) from the same
    array, and the finite-network forward pass computes φ(z) and φ′(z) from one z: the kernel was
    14% off tanh's, the empirical NTK 45%, with no error. A read-only view would cost nothing but
    turns ``out=z`` (a legitimate memory-saving idiom) and any function that needs a writable
    buffer (Cython typed memoryviews, numba) into errors; a copy costs one pass over memory that
    the call writes its result into anyway, and keeps every such function correct. Loss callables
    get copies for the same reason (ntkfast._losses)."""

    def __init__(self, fn: Callable[[Array], Array], label: str, what: str):
        self.fn, self.label, self.what = fn, label, what

    def __reduce__(self):
        return type(self), (_portable(self.fn, self.label, self.what), self.label, self.what)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __call__(self, z):
        z = np.asarray(z)
        out = np.asarray(self.fn(z.copy()))
        label, what = self.label, self.what
        if out.dtype == object or out.dtype.kind not in "biuf":
            raise TypeError(f"activation: {label}'s {what} must return real numbers, got dtype {out.dtype}")
        if out.shape != z.shape:
            if out.ndim:
                raise ValueError(f"activation: {label}'s {what} must return an array of its input's "
                                 f"shape {z.shape} (elementwise), got {out.shape}")
            out = np.full(z.shape, float(out))
        out = out.astype(float, copy=False)
        if not np.isfinite(out).all() and np.isfinite(z).all():
            bad = np.argwhere(~np.isfinite(out))[0]
            raise ValueError(f"activation: {label}'s {what} returned {out[tuple(bad)]} for the finite "
                             f"input {z[tuple(bad)]!r}")
        return out


def _importable(fn: types.FunctionType) -> bool:
    """Whether pickle can store ``fn`` by reference (module and qualified name lead back to it):
    not a lambda, not a function defined inside another one."""
    obj = sys.modules.get(getattr(fn, "__module__", None) or "")
    for part in fn.__qualname__.split("."):
        obj = getattr(obj, part, None)
    return obj is fn


class _ByValue:
    """A function pickled by value with cloudpickle; it unpickles as the function itself (the
    loading side needs cloudpickle too, as Dask workers have)."""

    def __init__(self, fn):
        self.fn = fn

    def __reduce__(self):
        import cloudpickle

        return pickle.loads, (cloudpickle.dumps(self.fn),)


def _portable(fn, label: str, what: str):
    """What to pickle in place of a user's function: the function itself where pickle can store
    it, else (cloudpickle installed) its value, else a PicklingError naming the activation."""
    if fn is None or not isinstance(fn, types.FunctionType) or _importable(fn):
        return fn
    try:
        import cloudpickle  # noqa: F401  (optional: not a dependency)
    except ImportError:
        raise pickle.PicklingError(
            f"activation: cannot pickle the custom activation {label!r}: its {what} "
            f"{fn.__qualname__!r} is a lambda or a function defined inside another function, which "
            "pickle can only store by name; define it at module level, or install cloudpickle "
            "(then used for it automatically)") from None
    return _ByValue(fn)


_FACTORIES = {
    "relu": relu, "leaky_relu": leaky_relu, "abs": abs, "erf": erf, "identity": identity,
    "sin": sin, "tanh": tanh, "sigmoid": sigmoid, "softplus": softplus, "gelu": gelu,
    "silu": silu, "elu": elu,
}
NAMES = tuple(_FACTORIES)


def _guarded(act: Activation) -> Activation:
    """An Activation built directly (not by a function here) with the copies and checks of
    :func:`custom` around its functions, so that they cannot overwrite our arrays either."""
    if "_recipe" in vars(act):
        return act

    def wrap(f, what):
        return f if f is None or isinstance(f, _Elementwise) else _Elementwise(f, act.name, what)

    fn, derivative = wrap(act.fn, "φ"), wrap(act.derivative, "φ′")
    if fn is act.fn and derivative is act.derivative:
        return act
    return dataclasses.replace(act, fn=fn, derivative=derivative)


def get_activation(spec) -> Activation:
    """Resolve the ``activation=`` argument of every kernel function."""
    if isinstance(spec, Activation):
        return _guarded(spec)
    if isinstance(spec, np.ndarray) and spec.ndim == 0 and spec.dtype.kind == "U":
        spec = str(spec)  # a 0-d string array as its string, as for every option
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
