"""The dynamics section of ``ntkfast bench`` (issue 4, item 9): kernel gradient descent and
finite-network training, each beside the numpy reference and a hardware floor, in one process.

kernel_gd (headline: N = 4000, O = 10 classes, t = 1000)
  K = ntkfast.ntk(x, depth=3, activation="relu") of x (N, 32) standard normal; y one-hot of the
  argmax of a random linear teacher x @ W (W (32, O) standard normal); f0 = 0; cross-entropy;
  outputs at t = t_end * (0, 0.01, 0.1, 1), no test points.
  - truth: ntkfast.kernel_gd, dopri5 at rtol=1e-12, atol=1e-14 (its distance to a run at
    rtol=1e-10, atol=1e-12 is printed: an upper bound of its own error, roughly);
  - error of a run = max |f - f_truth| / max |f_truth| over all requested times (training outputs);
  - ntkfast.kernel_gd at its default tolerances: error and time;
  - ntkfast.reference.kernel_gd(method="rk4", dt): the largest step that reaches the same accuracy
    (ACCURACY), found by untimed runs of the C++ rk4 (same algorithm, step placement and weights as
    the reference; far cheaper): the number of steps is doubled until the error is small enough,
    then the bracket is narrowed by interpolating log(error) against log(steps) (RK4: error ~ dt^4)
    until it is within STEP_BRACKET. The reference's own error at that step is measured too, and
    the search continues on the reference if it misses. Then the reference is timed at that step;
    the headline ratio is its time over ntkfast's default run.
  - per right-hand side: _core.kernel_matvec (the product K @ D alone, D (N, O)) against the
    bandwidth floor, bytes of K / streaming read bandwidth of _core.read_bandwidth over a buffer
    of K's size (so both run in the same level of the memory hierarchy); numpy's K @ D beside it.
    The three are measured in PRODUCT_ROUNDS interleaved rounds; each figure is its best round.
  The reference dopri5 at the default tolerances is timed too (information, one timed call after
  the warm-up: it shows how much of the speedup is the algorithm and how much the implementation).
  The truth comes from ntkfast itself; the numpy rk4's agreement with it is the independent check.

kernel regression (headline: N = 4000 training and M = 1000 test points, O = 10 classes)
  K, K(x*, X) = ntkfast.ntk of x (N + M, 32) standard normal (depth 3, relu), y one-hot as above,
  f0 = 0. ntkfast.kernel_gd_mse at t = inf only (its blocked Cholesky) beside the same call at
  t = [0, inf] (the eigendecomposition path) and a LAPACK floor in the same run: SciPy's
  cho_factor + cho_solve and numpy's K(x*, X) @ alpha (their OpenBLAS at its default threads).
  Details: ``dynamics_regression``.

train (headline: widths [32, 1024, 1024, 1], relu, N = 1024, 100 steps, float32)
  ntkfast.init_mlp(seed 0, NTK parameterization), x (N, 32) standard normal, y (N,) standard
  normal targets, MSE, lr = TRAIN_LR, record_every default, no test points, progress off.
  - ntkfast.train vs ntkfast.reference.train;
  - BLAS floor: numpy float32 time of the step's matrix products alone, each into a preallocated
    output (per layer l: forward a_l @ W_l^T, backward delta_{l+1} @ W_l for l > 0, gradient
    delta_{l+1}^T @ a_l), each the best of many calls, summed, times the number of steps.

Timing as in ``timing``: one untimed warm-up call, then the best of up to ``repeat`` calls (stopping
after ``max_time`` seconds of timed calls), "!" where other processes used more than a quarter of a
CPU meanwhile. The machine's other load inflates every cell; ratios of cells timed minutes apart
carry that noise.

This module runs the section (``run``); ``dynamics_setup`` holds its problems and settings,
``dynamics_kernel_gd``, ``dynamics_regression`` and ``dynamics_train`` its three parts,
``dynamics_report`` the checks and the report.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict

import numpy as np

from .dynamics_kernel_gd import MAX_SEARCH_RUNS, STEP_BRACKET, kernel_section, largest_rk4_steps
from .dynamics_regression import floor_call as regression_floor
from .dynamics_regression import regression_section
from .dynamics_report import checks, report
from .dynamics_setup import (ACCURACY, N_FEATURES, TIME_FRACTIONS, TRAIN_LR, Options, kernel_problem,
                             options, regression_problem, train_problem)
from .dynamics_train import train_section
from .machine import loadavg, machine_info
from .timing import Timing, busy_seconds, others_cpus, own_seconds

# The section's interface: the command calls options, run and report; the pytest-benchmark file
# (benchmarks/test_bench_dynamics.py) builds the same problems and tests the step search from here.
__all__ = ["options", "run", "report", "checks", "kernel_problem", "regression_problem",
           "regression_floor", "train_problem", "largest_rk4_steps", "ACCURACY", "MAX_SEARCH_RUNS",
           "N_FEATURES", "STEP_BRACKET", "TIME_FRACTIONS", "TRAIN_LR"]


def run(opts: Options, progress=None) -> dict:
    """Both sections; returns the results dict that :func:`report` prints."""
    if progress is None:
        progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    busy0, own0 = busy_seconds(), own_seconds()
    info = machine_info(opts.threads)
    kernel = kernel_section(opts, progress, started)
    regression = regression_section(opts, progress, started)
    train = train_section(opts, progress, started)
    total = time.perf_counter() - started
    others = others_cpus(busy0, own0, busy_seconds(), own_seconds(), total)
    results = {
        "machine": info,
        "options": asdict(opts),
        "headline": opts.headline,
        "kernel_gd": _jsonable(kernel),
        "regression": _jsonable(regression),
        "train": _jsonable(train),
        "total_seconds": total,
        "others_cpus_during_run": others,
        "load_average_at_end": loadavg(),
    }
    results["checks"] = checks(results)
    return results


def _jsonable(obj):
    """Timings to dicts, numpy scalars to floats, inf/nan to None (strict JSON)."""
    if isinstance(obj, Timing):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
