"""The series plan of a kernel object with an input bound, fixed once for every input it accepts.

A numerical (Mehler) activation plans its truncation order, quadrature, compaction and ρ-limits
from the points of a call (``_recursion.prepare``): the largest variance of each layer and the
coefficients' tails. Two calls on different points then use different series, and blocks of a
Gram computed separately would not equal the one-call Gram. A kernel object with
``input_bound = m`` (the largest mean square ‖x‖²/n0 of an input row it accepts) plans instead
from a grid of inputs spanning [0, m]: each layer's largest variance over the grid's images and
the tails of the grid points' coefficients. Every point's tables are then a function of that point
alone, and a point whose variance at some layer exceeds the plan's (an input beyond the bound)
is refused rather than computed with a silently different series.

The tails are taken at the grid points only; they vary smoothly with the variance, and the
ρ-limits they set are a per-entry tolerance of 1e-13 (``_mehler.PAIR_TOL``) beside the series'
global 1e-11.
"""
from __future__ import annotations

import numpy as np

from ._mehler import numpy_project
from ._recursion import FixedPlan, prepare
from .activations import Activation

# Mean squares of the grid: uniform over [0, m] (the tails grow with the variance, so the top
# matters most) and geometric towards 0 (small variances, where activations are nearly linear).
_UNIFORM_POINTS = 257
_GEOMETRIC_POINTS = 64


def grid(mean_square_bound: float) -> np.ndarray:
    m = float(mean_square_bound)
    g = np.concatenate([np.linspace(0.0, m, _UNIFORM_POINTS),
                        m * np.logspace(-12.0, 0.0, _GEOMETRIC_POINTS)])
    return np.unique(np.minimum(g, m))


def fixed_plan(act: Activation, depth: int, weight_var: float, bias_var: float,
               mean_square_bound: float, dtype, need_ntk: bool = True) -> FixedPlan:
    """The plan for inputs with ‖x‖²/n0 <= ``mean_square_bound`` (one feature whose square is
    each grid value stands for every input of that mean square: the first layer sees nothing
    else). Raises as a call would if the bound itself overflows the working dtype."""
    points = np.sqrt(grid(mean_square_bound))[:, None]
    prep = prepare(act, [points], depth, weight_var, bias_var, numpy_project, dtype, need_ntk,
                   table_budget=0)
    return FixedPlan(prep.mehler, tuple(prep.layer_max), f"input_bound={mean_square_bound:g}")
