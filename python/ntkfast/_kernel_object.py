"""What the infinite-width kernel objects of the fast path and the reference share: their
parameters and validation, identity (equality, hashing, pickling), the fixed series plan of an
input bound, and how a block of a symmetric Gram is assembled from cross tiles. The computation
itself (``_pair``, ``_diagonal``) is the subclass's: the C++ core (ntkfast.kernel_objects) or
plain numpy (ntkfast.reference.kernel_objects).
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from . import _validation as V
from ._kernel_args import KernelResult
from ._recursion import FixedPlan
from ._frozen import Frozen
from ._kernel_tiles import cross_tile, symmetric_tile
from ._series_bound import fixed_plan
from .activations import Activation, get_activation

GETS = ("ntk", "nngp")


def _activation_key(act: Activation):
    """Equal for activations made by the same call (``"tanh"`` twice, ``leaky_relu(0.2)`` twice,
    ``custom(f)`` twice with the same f); an Activation built by hand is itself."""
    recipe = vars(act).get("_recipe")
    if recipe is None:
        return act
    factory, args = recipe
    return (factory.__module__, factory.__qualname__, args)


def _input_bound(value) -> float | None:
    if value is None:
        return None
    value = V.scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"input_bound: expected a positive real number or None, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"input_bound: expected a positive finite number, got {value!r}")
    return value


def mean_squares(x: np.ndarray) -> np.ndarray:
    """‖x_i‖²/n0 per row, in float64: the quantity an input bound limits."""
    a = x.astype(np.float64, copy=False)
    return np.einsum("ij,ij->i", a, a) / a.shape[1]


class InfiniteWidthKernelBase(Frozen):
    """The parameters and the behaviour that does not depend on how entries are computed."""

    __slots__ = ("depth", "activation", "weight_std", "bias_std", "get", "dtype", "input_bound",
                 "_plan", "__weakref__")

    def __init__(self, *, depth, activation="relu", weight_std=1.0, bias_std=0.0, get="ntk",
                 dtype=np.float64, input_bound=None):
        values = {
            "depth": V.depth(depth),
            "activation": get_activation(activation),
            "weight_std": V.nonnegative(weight_std, "weight_std"),
            "bias_std": V.nonnegative(bias_std, "bias_std"),
            "get": _get(get),
            "dtype": np.dtype(V.working_dtype(dtype)),
            "input_bound": _input_bound(input_bound),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        plan = None
        if self.input_bound is not None:
            plan = fixed_plan(self.activation, self.depth, self.weight_std ** 2, self.bias_std ** 2,
                              self.input_bound, self.dtype, need_ntk=self.get == "ntk")
        object.__setattr__(self, "_plan", plan)

    # --- identity (the rest in Frozen) ----------------------------------------------------
    def params(self) -> dict:
        """The constructor's arguments, as validated."""
        return {name: getattr(self, name) for name in
                ("depth", "activation", "weight_std", "bias_std", "get", "dtype", "input_bound")}

    def _key(self):
        p = self.params()
        p["activation"] = _activation_key(p["activation"])
        p["dtype"] = p["dtype"].str
        return (type(self), tuple(p.items()))

    def __repr__(self):
        p = self.params()
        p["dtype"] = p["dtype"].name
        act = p.pop("activation")
        args = ", ".join(f"{k}={v!r}" for k, v in p.items() if k != "input_bound" or v is not None)
        return f"{type(self).__name__}(activation={act!r}, {args})"

    # --- the fixed series plan ---------------------------------------------------------------
    @property
    def fixed_plan(self) -> FixedPlan | None:
        """The series plan fixed by ``input_bound`` (None without a bound)."""
        return self._plan

    def planned_for(self, x):
        """This kernel with its series plan fixed for the points ``x`` (one pass over them): for a
        numerical activation the input bound becomes their largest mean square ‖x_i‖²/n0, so
        blocks of Grams of any subsets equal the one-call Gram bit for bit, and points beyond
        the bound are refused (plan for training and test points together, or give
        ``input_bound`` outright). Closed-form activations need no plan: ``self`` comes back."""
        a = V.points(x, "x", self.dtype)
        if not self._needs_plan():
            return self  # closed forms: nothing to fix, and no bound to refuse other points by
        return self.replace(input_bound=float(mean_squares(a).max()) or np.finfo(float).tiny)

    def _needs_plan(self) -> bool:
        return self.activation.dual == "mehler" and self.depth > 1

    @property
    def tiles_consistent(self) -> bool:
        """Whether separately computed blocks equal the one-call Gram bit for bit: always for
        closed-form activations (nothing depends on other points), with an input bound for
        numerical ones (whose series is otherwise planned from each call's points)."""
        return not self._needs_plan() or self._plan is not None

    # --- calls ---------------------------------------------------------------------------------
    def __call__(self, x1, x2=None, *, n_threads=None) -> np.ndarray:
        """The Gram matrix K(x1, x2), shape (N1, N2); ``x2=None``: the symmetric Gram of x1 (one
        triangle computed and mirrored, the diagonal from the per-point recursion)."""
        out = self._pair(x1, x2, want_nngp=self.get == "nngp", want_ntk=self.get == "ntk",
                         layerwise=False, n_threads=n_threads)
        return out[self.get]

    def diag(self, x, *, n_threads=None) -> np.ndarray:
        """K(x_i, x_i) per row, shape (N,), in O(N·L): the diagonal of ``self(x)`` bit for bit."""
        return self._diagonal(x, n_threads)

    def kernels(self, x1, x2=None, *, layerwise=False, n_threads=None) -> KernelResult:
        """Both kernels (NNGP Σ and NTK Θ) of one pass, every layer with ``layerwise=True``."""
        return self._result(x1, x2, layerwise, n_threads)

    def tile(self, x_rows, x_cols, *, offsets=None, n_threads=None) -> np.ndarray:
        """One block of a Gram from the row slices it spans.

        Without ``offsets``: K(x_rows, x_cols), the block of ``self(x1, x2)`` for any x1, x2
        containing these rows. With ``offsets=(i0, j0)``: x_rows = X[i0:i0+n] and
        x_cols = X[j0:j0+m] are slices of one point set X, and the result is
        ``self(X)[i0:i0+n, j0:j0+m]``, the symmetric Gram's block (its diagonal from the
        per-point recursion, entries below it mirrored), bit for bit. Numerical activations
        need an ``input_bound`` (or :meth:`planned_for`) for either form.
        """
        if not self.tiles_consistent:
            raise ValueError(
                f"tile: the {self.activation.name} kernel's series is planned from each call's "
                "points, so separate tiles would not match; make the kernel with input_bound= "
                "or use kernel.planned_for(X)")
        if offsets is None:
            return cross_tile(self, x_rows, x_cols, n_threads)
        return symmetric_tile(self, x_rows, x_cols, offsets, n_threads)

    def value_and_gradient(self, x1, x2=None, *, n_threads=None) -> tuple[np.ndarray, np.ndarray]:
        """The kernel and its gradient in the log-variances: (K, dK) with K (N1, N2) and dK
        (N1, N2, 2), dK[..., 0] = ∂K/∂log σ_w² and dK[..., 1] = ∂K/∂log β² (0 when β = 0).

        Computed by differentiating the Σ / Σ̇ / Θ recursion layer by layer alongside it (closed
        forms: relu family, erf, identity, sin; every other activation through its Hermite
        series, with the coefficients of φ″ and φ‴ taken from those of φ by Stein's identity;
        elu is not supported). Always float64, whatever ``dtype``. K is recomputed alongside the
        derivatives: it agrees with ``self(x1, x2)`` to rounding except at nearly coinciding
        points of the relu family, where the kernel carries 1 − ρ through the layers and this
        path takes ρ from the rounded k12 (measured: 6e-9 relative for relu, 1e-8 for abs, at
        depth 5 with duplicated rows; the gradient there stays within 4e-8 of central
        differences). A numerical activation's series is planned from this call's points
        (``input_bound`` is not used).
        ``ntkfast.sklearn.NTKGPKernel`` hands this to scikit-learn's GaussianProcessRegressor."""
        a1 = V.points(x1, "x1", np.dtype(np.float64))
        a2 = None if x2 is None else V.points(x2, "x2", np.dtype(np.float64), n_features=a1.shape[1])
        call = _GradientCall(a1, a2, self.depth, self.activation, self.weight_std ** 2,
                             self.bias_std ** 2)
        return self._value_and_gradient(call, n_threads)

    output_shape = ()  # per-entry shape: a scalar kernel

    def _points(self, x, name, n_features=None):
        return V.points(x, name, self.dtype, n_features=n_features)

    # --- the computation (subclasses) ------------------------------------------------------
    def _pair(self, x1, x2, *, want_nngp, want_ntk, layerwise, n_threads) -> dict:
        raise NotImplementedError

    def _diagonal(self, x, n_threads) -> np.ndarray:
        raise NotImplementedError

    def _result(self, x1, x2, layerwise, n_threads) -> KernelResult:
        raise NotImplementedError

    def _value_and_gradient(self, call, n_threads):
        raise NotImplementedError


class _GradientCall(NamedTuple):
    x1: np.ndarray
    x2: np.ndarray | None
    depth: int
    act: Activation
    weight_var: float
    bias_var: float


def _get(value) -> str:
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind == "U":
        value = str(value)
    if not isinstance(value, str) or value not in GETS:
        raise ValueError(f"get: expected 'ntk' or 'nngp', got {value!r}")
    return value
