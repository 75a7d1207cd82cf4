"""Figure 1 of Jacot, Gabriel & Hongler (2018): the NTK of finite networks against its limit.

Depth-4 ReLU networks (β = 0.1, σ_w = 1, n_0 = 2, NTK parameterization) of two widths, several
initializations each. For every network the empirical NTK Θ(x_0, x(γ)) with x_0 = (1, 0) and
x(γ) = (cos γ, sin γ) is measured at initialization and after gradient descent on least squares
with target f*(x) = x_1 x_2 on Gaussian inputs; the infinite-width Θ^(4) (ntkfast.ntk) is the
curve both should approach as the width grows, and training should move it less and less.

The paper does not say how many training points it used; N is a field of the setup and is printed.
At width 10000 a step costs a few passes over the 2 × 10^8 hidden weights whatever N is (for small
N), so N barely matters for the run time. Networks are float32 for the same reason: the weights of
one width-10000 network are 0.8 GB in float32 and each step streams them from memory.

This module computes plain numpy data (no matplotlib); ``plot`` draws it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

import ntkfast

# The angles of the printed table (ntk-math.md §6 gives the limit there).
TABLE_ANGLES = (0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4, math.pi)
TABLE_LABELS = ("0", "π/4", "π/2", "3π/4", "π")


@dataclass(frozen=True)
class Setup:
    widths: tuple = (500, 10000)
    n_inits: int = 10
    depth: int = 4
    bias_std: float = 0.1
    weight_std: float = 1.0
    n_train: int = 10
    steps: int = 200
    lr: float = 1.0
    # γ on a uniform grid over [-π, π]; n_gamma - 1 must be a multiple of 8 so that the table's
    # angles (multiples of π/4) are grid points.
    n_gamma: int = 121
    seed: int = 0
    dtype: str = "float32"

    @property
    def time(self) -> float:
        """t = lr × steps (ntk-math.md §4 convention, 1/N in the cost)."""
        return self.lr * self.steps


def setup(quick: bool = False, seed: int = 0) -> Setup:
    """The paper's setup, or with ``quick`` a small one that runs in seconds."""
    if quick:
        return Setup(widths=(100, 500), n_inits=3, n_gamma=41, seed=seed)
    return Setup(seed=seed)


@dataclass(frozen=True)
class WidthRuns:
    """The networks of one width: Θ(x_0, x(γ)) rows, one per initialization."""

    width: int
    theta_init: np.ndarray      # (n_inits, n_gamma)
    theta_trained: np.ndarray   # (n_inits, n_gamma)
    loss_init: np.ndarray       # (n_inits,)
    loss_trained: np.ndarray    # (n_inits,)
    seconds: float

    @property
    def relative_change(self) -> np.ndarray:
        """||Θ_t − Θ_0|| / ||Θ_0|| over the γ grid, per initialization."""
        diff = np.linalg.norm(self.theta_trained - self.theta_init, axis=1)
        return diff / np.linalg.norm(self.theta_init, axis=1)


@dataclass(frozen=True)
class Data:
    setup: Setup
    gamma: np.ndarray           # (n_gamma,)
    x_train: np.ndarray         # (n_train, 2)
    y_train: np.ndarray         # (n_train,)
    limit: np.ndarray           # (n_gamma,) infinite-width Θ^(L)(x_0, x(γ))
    runs: tuple = field(default_factory=tuple)  # WidthRuns per width

    def relative_to_limit(self, theta: np.ndarray) -> np.ndarray:
        """||Θ − Θ_∞|| / ||Θ_∞|| over the γ grid, per row of ``theta``."""
        return np.linalg.norm(theta - self.limit, axis=1) / np.linalg.norm(self.limit)


def circle(gamma: np.ndarray) -> np.ndarray:
    """x(γ) = (cos γ, sin γ), one row per angle."""
    return np.stack([np.cos(gamma), np.sin(gamma)], axis=1)


# Below this width a training step is too little work to share between threads: with n_threads
# unset, such networks run on one thread (results are identical for any thread count). On a
# loaded 2-core machine two threads made width 500 up to 20x slower than one (barrier waits).
SMALL_WIDTH = 2000


def threads_for(width: int, n_threads):
    """The n_threads for one network: the user's choice, else one thread for small widths."""
    if n_threads is not None:
        return n_threads
    return 1 if width <= SMALL_WIDTH else None


def angle_index(gamma: np.ndarray, angle: float) -> int:
    i = int(np.argmin(np.abs(gamma - angle)))
    if abs(gamma[i] - angle) > 1e-9:
        raise ValueError(f"angle {angle} is not on the γ grid")
    return i


def _check(s: Setup) -> None:
    if s.n_gamma < 9 or (s.n_gamma - 1) % 8:
        raise ValueError(f"n_gamma: expected 8k + 1 >= 9 (so that multiples of π/4 are on the grid), got {s.n_gamma}")
    if s.n_inits < 1 or s.n_train < 1 or s.steps < 0 or not s.widths:
        raise ValueError(f"expected n_inits, n_train >= 1, steps >= 0 and some widths, got {s}")


def training_set(s: Setup) -> tuple[np.ndarray, np.ndarray]:
    """N standard Gaussian inputs in R² and the target f*(x) = x_1 x_2."""
    x = np.random.default_rng([s.seed, 1]).standard_normal((s.n_train, 2))
    return x, x[:, 0] * x[:, 1]


def compute(s: Setup, *, n_threads=None, log=None) -> Data:
    """Train every network and measure its kernel; ``log(str)`` hears about each network."""
    _check(s)
    log = log or (lambda _msg: None)
    dtype = np.dtype(s.dtype)
    gamma = np.linspace(-math.pi, math.pi, s.n_gamma)
    x0, xs = np.array([[1.0, 0.0]]), circle(gamma)
    kw = dict(depth=s.depth, activation="relu", weight_std=s.weight_std, bias_std=s.bias_std)
    limit = ntkfast.ntk(x0, xs, **kw, n_threads=n_threads)[0]
    x_train, y_train = training_set(s)
    x0_d, xs_d = x0.astype(dtype), xs.astype(dtype)

    runs = []
    for width in s.widths:
        start = time.perf_counter()
        rows = {"theta_init": [], "theta_trained": [], "loss_init": [], "loss_trained": []}
        threads = threads_for(width, n_threads)
        log(f"width {width}: training {s.n_inits} networks for {s.steps} steps"
            + (f" (each step streams the {(s.depth - 2) * width ** 2 * dtype.itemsize / 1e9:.1f} GB of "
               "hidden weights: 1-2 minutes per network at width 10000 on 2 cores)" if width >= 5000 else ""))
        for i in range(s.n_inits):
            t0 = time.perf_counter()
            net = ntkfast.init_mlp([2] + [width] * (s.depth - 1) + [1], activation="relu",
                                    weight_std=s.weight_std, bias_std=s.bias_std,
                                    seed=[s.seed, 2, width, i], dtype=dtype)
            theta0 = ntkfast.empirical_ntk(net, x0_d, xs_d, n_threads=threads)[0]
            hist = ntkfast.train(net, x_train, y_train, lr=s.lr, steps=s.steps,
                                 record_every=max(s.steps, 1), progress=False, n_threads=threads)
            del net  # a width-10000 network is 0.8 GB: hold one at a time
            theta_t = ntkfast.empirical_ntk(hist.net, x0_d, xs_d, n_threads=threads)[0]
            rows["theta_init"].append(theta0)
            rows["theta_trained"].append(theta_t)
            rows["loss_init"].append(float(hist.loss[0]))
            rows["loss_trained"].append(float(hist.loss[-1]))
            change = np.linalg.norm(theta_t - theta0) / np.linalg.norm(theta0)
            log(f"width {width}, init {i + 1}/{s.n_inits}: loss {hist.loss[0]:.4f} -> "
                f"{hist.loss[-1]:.4f}, kernel change {100 * change:.2f}% "
                f"({time.perf_counter() - t0:.1f} s)")
            del hist
        runs.append(WidthRuns(width=width, seconds=time.perf_counter() - start,
                              **{k: np.asarray(v, dtype=np.float64) for k, v in rows.items()}))
    return Data(setup=s, gamma=gamma, x_train=x_train, y_train=y_train, limit=limit, runs=tuple(runs))


def _mean_std(values: np.ndarray) -> str:
    return f"{values.mean():.5f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.5f}"


def report(d: Data) -> str:
    s = d.setup
    idx = [angle_index(d.gamma, a) for a in TABLE_ANGLES]
    lines = [
        "Figure 1 (Jacot et al. 2018): NTK Θ(x_0, x(γ)), x_0 = (1, 0), x(γ) = (cos γ, sin γ)",
        f"  depth {s.depth} relu, weight_std {s.weight_std}, bias_std {s.bias_std}, n_0 = 2, NTK "
        f"parameterization, {s.dtype}; widths {', '.join(map(str, s.widths))}, {s.n_inits} "
        f"initializations each",
        f"  training: {s.steps} steps of gradient descent, lr {s.lr} (t = lr × steps = {s.time:g}, "
        f"cost (1/N) Σ ½(f − y)²), N = {s.n_train} standard Gaussian inputs in R², "
        f"target f*(x) = x_1 x_2; seed {s.seed}",
        "",
        "Θ(x_0, x(γ))      " + "".join(f"{lab:>19}" for lab in TABLE_LABELS),
        "limit (n = ∞)     " + "".join(f"{d.limit[i]:>19.5f}" for i in idx),
    ]
    for r in d.runs:
        for name, theta in (("t = 0", r.theta_init), (f"t = {s.time:g}", r.theta_trained)):
            label = f"n = {r.width}, {name}"
            lines.append(f"{label:<18}" + "".join(f"{_mean_std(theta[:, i]):>19}" for i in idx))
    lines += ["", "(mean ± std over initializations; norms below are over the γ grid of "
              f"{s.n_gamma} points)", "",
              f"{'width':>6}  {'loss t=0':>9}  {'loss t=' + format(s.time, 'g'):>9}  "
              f"{'|Θ_t−Θ_0|/|Θ_0|':>18}  {'|Θ_0−Θ_∞|/|Θ_∞|':>18}  {'|Θ_t−Θ_∞|/|Θ_∞|':>18}  {'time':>7}"]
    for r in d.runs:
        lines.append(
            f"{r.width:>6}  {r.loss_init.mean():>9.4f}  {r.loss_trained.mean():>9.4f}  "
            f"{_pct(r.relative_change):>18}  {_pct(d.relative_to_limit(r.theta_init)):>18}  "
            f"{_pct(d.relative_to_limit(r.theta_trained)):>18}  {r.seconds:>6.1f}s")
    return "\n".join(lines)


def _pct(values: np.ndarray) -> str:
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{100 * values.mean():.2f} ± {100 * sd:.2f}%"
