"""What the dynamics section of ``ntkfast bench`` measures: its problems (the kernel_gd race's NTK
and labels, the trained network and data), settings and options, and the helpers its kernel_gd
and train parts share (how a run's error is measured, a run timed or run untimed)."""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .timing import Timing, keeping, safe_time

N_FEATURES = 32
SEED = 0
ACTIVATION = "relu"
ACCURACY = 1e-6  # relative error the default kernel_gd and the reference rk4 must reach
TIGHT = dict(rtol=1e-12, atol=1e-14)  # the truth
LOOSER = dict(rtol=1e-10, atol=1e-12)  # its distance to the truth bounds the truth's error
TIME_FRACTIONS = (0.0, 0.01, 0.1, 1.0)  # requested times, as fractions of t_end
TRAIN_LR = 1.0  # well below the NTK bound 2N / lambda_max(Theta) (about 10 here)
HEADLINE = dict(n=4000, n_out=10, t_end=1000.0, train_n=1024, train_steps=100, reg_n=4000,
                reg_m=1000)
QUICK = dict(n=1000, t_end=100.0, train_n=256, train_steps=20, reg_n=1000, reg_m=250)


@dataclass
class Options:
    n: int = HEADLINE["n"]
    n_out: int = HEADLINE["n_out"]
    t_end: float = HEADLINE["t_end"]
    depth: int = 3
    train_widths: tuple = (N_FEATURES, 1024, 1024, 1)
    train_n: int = HEADLINE["train_n"]
    train_steps: int = HEADLINE["train_steps"]
    train_dtype: str = "float32"
    reg_n: int = HEADLINE["reg_n"]  # kernel regression at t = inf: training points
    reg_m: int = HEADLINE["reg_m"]  # and test points
    repeat: int = 3
    max_time: float = 20.0  # seconds of timed calls per cell before best-of stops early
    product_repeat: int = 30  # best of this many for a single kernel product / GEMM
    threads: Optional[int] = None
    reference: bool = True
    quick: bool = False

    @property
    def headline(self) -> bool:
        return all(getattr(self, k) == v for k, v in HEADLINE.items()) \
            and tuple(self.train_widths) == (N_FEATURES, 1024, 1024, 1) \
            and self.train_dtype == "float32" and self.depth == 3


def options(quick: bool = False, **overrides) -> Options:
    """The full or quick profile, with the given fields (not None) replacing its values."""
    base = dict(QUICK) if quick else {}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Options(quick=quick, **base)


def request_times(opts: Options) -> np.ndarray:
    return np.array([f * opts.t_end for f in TIME_FRACTIONS])


def kernel_problem(n: int, n_out: int, depth: int = 3, threads=None):
    """(K, y): the NTK of n standard-normal points and one-hot labels of a linear teacher."""
    import ntkfast

    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((n, N_FEATURES))
    teacher = rng.standard_normal((N_FEATURES, n_out))
    k = ntkfast.ntk(x, depth=depth, activation=ACTIVATION, n_threads=threads)
    y = np.zeros((n, n_out))
    y[np.arange(n), np.argmax(x @ teacher, axis=1)] = 1.0
    return np.ascontiguousarray(k), y


def regression_problem(n: int, m: int, n_out: int, depth: int = 3, threads=None):
    """(K, K_test, y): the NTK of n standard-normal training points, against m test points, and
    one-hot labels of a linear teacher (as kernel_problem, test points drawn after them)."""
    import ntkfast

    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((n + m, N_FEATURES))
    teacher = rng.standard_normal((N_FEATURES, n_out))
    k = ntkfast.ntk(x[:n], depth=depth, activation=ACTIVATION, n_threads=threads)
    k_test = ntkfast.ntk(x[n:], x[:n], depth=depth, activation=ACTIVATION, n_threads=threads)
    y = np.zeros((n, n_out))
    y[np.arange(n), np.argmax(x[:n] @ teacher, axis=1)] = 1.0
    return np.ascontiguousarray(k), np.ascontiguousarray(k_test), y


def train_problem(widths, n: int, dtype: str):
    """(net, x, y): the network at initialization, inputs and (n,) random targets."""
    import ntkfast

    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((n, widths[0]))
    y = rng.standard_normal(n) if widths[-1] == 1 else rng.standard_normal((n, widths[-1]))
    net = ntkfast.init_mlp(list(widths), activation=ACTIVATION, parameterization="ntk", seed=SEED,
                           dtype=dtype)
    return net, x, y


def relative_error(f, truth) -> float:
    """max |f - truth| / max |truth|; inf for a failed or non-finite run."""
    if f is None:
        return math.inf
    f, truth = np.asarray(f, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if f.shape != truth.shape or not np.all(np.isfinite(f)):
        return math.inf
    scale = np.abs(truth).max()
    return float(np.abs(f - truth).max() / scale) if scale > 0 else float(np.abs(f - truth).max())


def default_rk4_step(k: np.ndarray) -> float:
    """The spec's default rk4 step: N / max_i sum_j |K_ij| (<= N / lambda_max)."""
    return k.shape[0] / float(np.abs(k).sum(axis=1).max())


def fmt_error(v) -> str:
    """A relative error as text: "-" when not measured, "inf" for a failed run."""
    return "-" if v is None else ("inf" if not math.isfinite(v) else f"{v:.1e}")


def timed(fn: Callable[[], object], opts: Options, box: dict, repeat=None) -> Timing:
    """fn timed best-of (its result kept in box["out"]); an exception becomes an "error" cell."""
    return safe_time(lambda: keeping(fn, box), opts.repeat if repeat is None else repeat, opts.max_time)


def timed_product(fn, repeat: int) -> Timing:
    """A single product (or GEMM) timed best-of; an exception becomes an "error" cell."""
    return safe_time(lambda: fn, repeat, max_time=5.0)


def run_info(res) -> dict:
    """The step and right-hand-side counts of a kernel_gd result."""
    return {k: int(getattr(res, k)) for k in ("n_rhs", "n_steps", "n_rejected")
            if getattr(res, k, None) is not None}


def solve(fn, *args, **kwargs):
    """fn(*args, **kwargs), or None when it fails (a step beyond stability overflows). The rk4
    step search probes steps near the stability bound on purpose: kernel_gd's warning about a
    cross-entropy step beyond it is expected there and silenced."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return fn(*args, **kwargs)
    except Exception:
        return None


def stage_logger(progress, started: float):
    """``say(msg)``: progress(msg) after the section's elapsed time."""
    def say(msg):
        progress(f"[dynamics, {time.perf_counter() - started:.0f} s] {msg}")
    return say
