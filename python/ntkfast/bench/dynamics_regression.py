"""The kernel-regression part of the dynamics section of ``ntkfast bench`` (see ``dynamics``):
``kernel_gd_mse`` at t = ∞ only, which solves (K + ridge·I) α = y − f_0 by ntkfast's blocked
Cholesky, beside the same call with t = [0, ∞] (a finite time keeps the eigendecomposition path:
one ``eigh``), and a LAPACK floor on the same matrices in the same run: SciPy's cho_factor
(potrf, after SciPy's copy of K) and cho_solve (potrs), then numpy's K(x*, X) @ α, each in its
own OpenBLAS at that library's default threads (OPENBLAS_NUM_THREADS, else every CPU).

ntkfast's call includes what the floor skips: the checks of its inputs (finite, symmetric), and
the copy of K's lower triangle it factors. The Cholesky row and the floor are timed in
interleaved rounds (the load of a shared machine changes by the second), each figure its best
round; the eigendecomposition is timed once, without a warm-up (seconds to minutes)."""
from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np

from .dynamics_setup import Options, regression_problem, relative_error, stage_logger
from .reporting import fmt_s
from .timing import Timing, best_cell, keeping, safe_time, single_call

ROUNDS = 3  # interleaved rounds of (Cholesky, floor)


def floor_call(k: np.ndarray, k_test: np.ndarray, y: np.ndarray):
    """f_test by bare LAPACK: potrf, potrs and a GEMM. kᵀ is K in Fortran order (K is
    symmetric), so SciPy copies it as it is rather than transposing it."""
    import scipy.linalg

    def call():
        factor = scipy.linalg.cho_factor(k.T, lower=False, check_finite=False)
        alpha = scipy.linalg.cho_solve(factor, y, check_finite=False)
        return k_test @ alpha
    return call


def regression_section(opts: Options, progress, started) -> dict:
    """The part's results (JSON-ready but for Timing cells)."""
    import ntkfast

    say = stage_logger(progress, started)
    n, m = opts.reg_n, opts.reg_m
    say(f"kernel regression problem: ntk of ({n} + {m}, 32), depth {opts.depth}")
    k, k_test, y = regression_problem(n, m, opts.n_out, opts.depth, opts.threads)
    env = os.environ.get("OPENBLAS_NUM_THREADS")
    out = {"n": n, "m": m, "n_out": opts.n_out, "depth": opts.depth, "notes": [],
           "blas_threads": f"OPENBLAS_NUM_THREADS={env}" if env else
           f"every CPU ({os.cpu_count()}; OPENBLAS_NUM_THREADS unset)"}

    def cholesky():
        return ntkfast.kernel_gd_mse(k, y, np.inf, k_test_train=k_test, n_threads=opts.threads)

    try:
        floor = floor_call(k, k_test, y)
    except ImportError as exc:
        floor = None
        out["notes"].append(f"floor not measured: {exc}")
    say("kernel_gd_mse t=inf (Cholesky) and the LAPACK floor, interleaved...")
    chol_cells, floor_cells, chol_box, floor_box = [], [], {}, {}
    for _ in range(ROUNDS):
        chol_cells.append(safe_time(lambda: keeping(cholesky, chol_box), 1))
        if floor is not None:
            floor_cells.append(safe_time(lambda: keeping(floor, floor_box), 1))
    out["cholesky"] = best_cell(chol_cells)
    out["floor"] = best_cell(floor_cells) if floor is not None else Timing("not installed", note="scipy")
    say(f"  Cholesky {fmt_s(out['cholesky'])}, floor {fmt_s(out['floor'])}")

    say("kernel_gd_mse t=[0, inf] (eigendecomposition), one call...")
    eig_box = {}
    out["eigen"] = single_call(keeping(
        lambda: ntkfast.kernel_gd_mse(k, y, [0.0, np.inf], k_test_train=k_test, n_threads=opts.threads),
        eig_box))
    say(f"  {fmt_s(out['eigen'])}")

    chol, eig = chol_box.get("out"), eig_box.get("out")
    # the t = inf test outputs of the three, against the eigen path's
    out["cholesky_vs_eigen"] = (relative_error(chol.f_test[0], eig.f_test[-1])
                                if chol is not None and eig is not None else None)
    out["floor_vs_eigen"] = (relative_error(floor_box["out"], eig.f_test[-1])
                             if "out" in floor_box and eig is not None else None)
    for key in ("cholesky", "floor", "eigen"):
        out[key] = asdict(out[key])
    return out
