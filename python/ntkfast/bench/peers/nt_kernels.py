"""neural-tangents' infinite-width NTK, the optional comparator of the kernels section.

It runs its ``kernel_fn`` under ``jax.jit`` with ``block_until_ready``; the warm-up call compiles
it, so compile time is not in its timings. XLA uses its own threads (all CPUs, not ``--threads``),
and the x64 flag is set per row, since neural-tangents computes in float64 when it is on and in
float32 when it is off, whatever the input's dtype.
"""
from __future__ import annotations

import numpy as np

from .nt_empirical_worker import jax_precision

ACTIVATIONS = ("relu", "erf")  # neural-tangents has no closed-form tanh


class NeuralTangentsKernels:
    """``stax`` Dense/activation serial network, NTK parametrization, jitted kernel_fn."""

    def __init__(self, weight_std: float, bias_std: float):
        self.weight_std, self.bias_std = weight_std, bias_std
        self.status = "not installed"
        self.version = None
        self._cache = {}
        try:
            import jax
            import neural_tangents
            from neural_tangents import stax
        except ImportError:
            return
        except Exception as exc:  # broken install: say so, carry on without it
            self.status = f"import failed ({type(exc).__name__}: {exc})"
            return
        self.jax, self.stax = jax, stax
        self.version = (f"{getattr(neural_tangents, '__version__', 'unknown')} "
                        f"(jax {getattr(jax, '__version__', 'unknown')})")
        self.status = "ok"

    @property
    def available(self) -> bool:
        return self.status == "ok"

    def caller(self, x: np.ndarray, activation: str, depth: int, dtype: str):
        key = (activation, depth)
        if key not in self._cache:
            stax = self.stax
            act = {"relu": stax.Relu, "erf": stax.Erf}[activation]
            layers = []
            for _ in range(depth - 1):
                layers += [stax.Dense(512, W_std=self.weight_std, b_std=self.bias_std,
                                      parameterization="ntk"), act()]
            layers.append(stax.Dense(1, W_std=self.weight_std, b_std=self.bias_std,
                                     parameterization="ntk"))
            _, _, kernel_fn = stax.serial(*layers)
            # jit's cache is keyed on the x64 flag too: one compile per dtype and shape, done in
            # the untimed warm-up call.
            self._cache[key] = self.jax.jit(kernel_fn, static_argnames="get")
        kernel_fn = self._cache[key]
        with jax_precision(dtype):
            xj = self.jax.numpy.asarray(x.astype(dtype))

        def call():
            with jax_precision(dtype):
                out = kernel_fn(xj, None, get="ntk").block_until_ready()
            if out.dtype != np.dtype(dtype):  # a row must not be timed in another precision
                raise TypeError(f"neural-tangents returned {out.dtype} for a {dtype} row")
            return out
        return call
