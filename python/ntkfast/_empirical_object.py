"""What the empirical-kernel objects of the fast path and the reference share: the frozen network
and settings, validation, identity (equality, hashing, pickling) and tiles. The computation itself
(``_pair``, ``_diagonal``) is the subclass's: the C++ core (ntkfast.empirical_kernel) or plain
numpy (ntkfast.reference.empirical_kernel).

The object owns a read-only copy of the network's arrays, taken at construction: an MLP is
mutable (training changes its arrays in place), a kernel object must not be. Its identity is the
content of that copy (one blake2b digest over dtype, shapes and bytes, computed once) with the
network's settings and the kernel's, so equal networks give equal, interchangeable kernels
wherever they were built.
"""
from __future__ import annotations

import hashlib

import numpy as np

from . import _validation as V
from ._empirical_args import EmpiricalNTK, output_mode, out_shape
from ._kernel_object import _activation_key, _get
from ._frozen import Frozen
from ._kernel_tiles import cross_tile, symmetric_tile
from ._mlp import CheckedNet, MLPParameters, _parameterization, checked


def _frozen(arr: np.ndarray, copy: bool) -> np.ndarray:
    out = np.array(arr, copy=True) if copy else arr.view()
    out.flags.writeable = False
    return out


def _digest(cn: CheckedNet) -> bytes:
    h = hashlib.blake2b(digest_size=32)
    h.update(cn.dtype.str.encode())
    for w, b in zip(cn.weights, cn.biases):
        h.update(repr(w.shape).encode())
        h.update(w.tobytes())  # contiguous: one copy-free buffer each
        h.update(b.tobytes())
    return h.digest()


class EmpiricalKernelBase(Frozen):
    """The network, its settings and the behaviour that does not depend on how entries are
    computed."""

    __slots__ = ("get", "output", "memory_budget", "dtype", "output_shape", "_cn", "_settings",
                 "_net_type", "_digest", "__weakref__")

    def __init__(self, net, *, get="ntk", output="trace", memory_budget=None):
        self._build(net, get, output, memory_budget, copy=True)

    @classmethod
    def _borrowing(cls, net, *, get="ntk", output="trace", memory_budget=None):
        """An object that uses the network's arrays as they are (no copy, no digest), for the
        functional API's one call: it must not outlive the call (the arrays may change after
        it) and is never hashed or compared."""
        obj = cls.__new__(cls)
        obj._build(net, get, output, memory_budget, copy=False)
        return obj

    def _build(self, net, get, output, memory_budget, copy: bool):
        cn = checked(net)
        get = _get(get)
        mode = output_mode(output)
        if get == "nngp" and mode != "trace":
            raise ValueError(
                f"output: the empirical NNGP is one kernel shared by all outputs (shape (N1, N2)); "
                f"use output='trace' with get='nngp', got output={output!r}")
        cn = CheckedNet(tuple(_frozen(w, copy) for w in cn.weights),
                        tuple(_frozen(b, copy) for b in cn.biases),
                        cn.weight_scales, cn.bias_scale, cn.activation, cn.dtype)
        n_out = cn.widths[-1]
        values = {
            "get": get,
            "output": mode,
            "memory_budget": V.memory_budget(memory_budget),
            "dtype": cn.dtype,
            "output_shape": () if get == "nngp" else out_shape(1, 1, n_out, mode)[2:],
            "_cn": cn,
            # the network's settings as validated (checked() refused bad ones)
            "_settings": (V.nonnegative(net.weight_std, "weight_std"), V.nonnegative(net.bias_std, "bias_std"),
                          _parameterization(net.parameterization)),
            "_net_type": type(net),
            "_digest": _digest(cn) if copy else None,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    # --- identity (the rest in Frozen) ----------------------------------------------------
    @property
    def net(self) -> MLPParameters:
        """A fresh, writable copy of the network (changing it does not change the kernel)."""
        weight_std, bias_std, parameterization = self._settings
        return self._net_type([w.copy() for w in self._cn.weights], [b.copy() for b in self._cn.biases],
                              activation=self._cn.activation, weight_std=weight_std,
                              bias_std=bias_std, parameterization=parameterization)

    @property
    def widths(self) -> tuple[int, ...]:
        """(n_0, ..., n_L) of the network."""
        return self._cn.widths

    def params(self) -> dict:
        """The constructor's arguments, as validated (``net`` a copy)."""
        return {"net": self.net, "get": self.get, "output": self.output,
                "memory_budget": self.memory_budget}

    def _key(self):
        # memory_budget is left out: results are bit-identical for any budget, as for any
        # n_threads; it says how to compute, not what.
        return (type(self), self._digest, _activation_key(self._cn.activation), self._settings,
                self.get, self.output)

    def __repr__(self):
        weight_std, bias_std, parameterization = self._settings
        net = (f"{self._net_type.__name__}(widths={list(self.widths)}, "
               f"activation={self._cn.activation!r}, weight_std={weight_std}, bias_std={bias_std}, "
               f"parameterization={parameterization!r}, dtype={self.dtype.name})")
        budget = "" if self.memory_budget is None else f", memory_budget={self.memory_budget}"
        return f"{type(self).__name__}({net}, get={self.get!r}, output={self.output!r}{budget})"

    # --- calls ---------------------------------------------------------------------------------
    def __call__(self, x1, x2=None, *, n_threads=None) -> np.ndarray:
        """The Gram matrix K(x1, x2), shape (N1, N2) + output_shape; ``x2=None``: the symmetric
        Gram of x1 (upper triangle computed and mirrored: exactly symmetric)."""
        return self._pair(x1, x2, per_layer=False, n_threads=n_threads)[0]

    def per_layer(self, x1, x2=None, *, n_threads=None) -> EmpiricalNTK:
        """The Gram and each weight layer's term (``get="ntk"`` only): ``EmpiricalNTK(ntk,
        per_layer)`` with ``per_layer`` of shape (L,) + ntk.shape, as
        ``empirical_ntk(..., per_layer=True)``."""
        if self.get != "ntk":
            raise ValueError("per_layer: the empirical NNGP has one layer's term only; use get='ntk'")
        return EmpiricalNTK(*self._pair(x1, x2, per_layer=True, n_threads=n_threads))

    def diag(self, x, *, n_threads=None) -> np.ndarray:
        """K(x_i, x_i) per row, shape (N,) + output_shape: the diagonal of ``self(x)`` bit for
        bit, in O(N) products."""
        return self._diagonal(x, n_threads)

    def tile(self, x_rows, x_cols, *, offsets=None, n_threads=None) -> np.ndarray:
        """One block of a Gram from the row slices it spans.

        Without ``offsets``: K(x_rows, x_cols), the block of ``self(x1, x2)`` for any x1, x2
        containing these rows. With ``offsets=(i0, j0)``: x_rows = X[i0:i0+n] and
        x_cols = X[j0:j0+m] are slices of one point set X, and the result is
        ``self(X)[i0:i0+n, j0:j0+m]``, the symmetric Gram's block (entries below its diagonal
        mirrored), bit for bit. Every entry depends on its own two points only (the core's
        fixed-order products), so any tiling, thread count or memory_budget gives the same bits.
        """
        if offsets is None:
            return cross_tile(self, x_rows, x_cols, n_threads)
        return symmetric_tile(self, x_rows, x_cols, offsets, n_threads)

    def _points(self, x, name, n_features=None):
        a = V.points(x, name, self.dtype)
        n0 = self.widths[0]
        if a.shape[1] != n0:
            raise ValueError(f"{name}: expected {n0} features (the network's input width), got shape {a.shape}")
        return a

    # --- the computation (subclasses) ------------------------------------------------------
    def _pair(self, x1, x2, *, per_layer, n_threads) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def _diagonal(self, x, n_threads) -> np.ndarray:
        raise NotImplementedError
