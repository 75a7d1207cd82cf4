"""Figure 2 of Jacot, Gabriel & Hongler (2018): trained finite networks against the infinite ensemble.

Depth-4 ReLU networks (β = 0.1, σ_w = 1, NTK parameterization) of two widths are trained by
gradient descent on 4 points of the unit circle; their functions f(x(γ)), x(γ) = (cos γ, sin γ),
are compared with the infinite-width prediction: at t → ∞ the output over random initializations
is Gaussian (ntkfast.infinite_ensemble, NNGP initialization, NTK dynamics), drawn as its 10th,
50th and 90th percentiles. Wide networks should fall in the 10–90 band about 80% of the time.

The paper does not list its 4 points; ours are fixed angles with target f*(x) = x_1 x_2 (both
printed). t = lr × steps is compared with t = ∞: the report prints e^{−t λ_min / N}, the factor
by which the slowest mode of the kernel dynamics is still unfitted at time t.

This module computes plain numpy data (no matplotlib); ``plot`` draws it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

import ntkfast
from .fig1 import angle_index, circle, threads_for

QUANTILES = (0.1, 0.5, 0.9)
# Angles of the printed table: none is a training angle (there the band has width ~0).
TABLE_ANGLES = (-math.pi / 2, 0.0, math.pi / 2, 3 * math.pi / 4, math.pi)
TABLE_LABELS = ("−π/2", "0", "π/2", "3π/4", "π")


@dataclass(frozen=True)
class Setup:
    widths: tuple = (50, 1000)
    n_nets: int = 10
    depth: int = 4
    bias_std: float = 0.1
    weight_std: float = 1.0
    # Training angles (multiples of 15° so that they are points of the default γ grid).
    train_angles: tuple = (-3 * math.pi / 4, -math.pi / 6, math.pi / 3, 5 * math.pi / 6)
    steps: int = 1000
    lr: float = 1.0
    n_gamma: int = 121  # uniform grid over [-π, π], 8k + 1 points so that multiples of π/4 are on it
    seed: int = 0
    dtype: str = "float64"

    @property
    def time(self) -> float:
        """t = lr × steps (ntk-math.md §4 convention, 1/N in the cost)."""
        return self.lr * self.steps


def setup(quick: bool = False, seed: int = 0) -> Setup:
    """The paper's setup, or with ``quick`` a small one that runs in seconds."""
    if quick:
        return Setup(widths=(50, 200), n_nets=4, steps=300, n_gamma=41, seed=seed)
    return Setup(seed=seed)


@dataclass(frozen=True)
class WidthRuns:
    width: int
    f: np.ndarray               # (n_nets, n_gamma) trained functions on the γ grid
    loss_trained: np.ndarray    # (n_nets,)
    seconds: float


@dataclass(frozen=True)
class Data:
    setup: Setup
    gamma: np.ndarray           # (n_gamma,)
    x_train: np.ndarray         # (4, 2)
    y_train: np.ndarray         # (4,)
    lr_bound: float             # 2N / λ_max of the infinite-width NTK Gram of the training points
    unfitted: float             # e^{-t λ_min / N}
    quantiles: dict             # q -> (n_gamma,) percentile of the t = ∞ Gaussian
    runs: tuple                 # WidthRuns per width

    def in_band(self, f: np.ndarray) -> np.ndarray:
        """True where f lies between the 10th and 90th percentiles (f: (..., n_gamma))."""
        return (f >= self.quantiles[QUANTILES[0]]) & (f <= self.quantiles[QUANTILES[-1]])


def training_set(s: Setup) -> tuple[np.ndarray, np.ndarray]:
    x = circle(np.asarray(s.train_angles, dtype=np.float64))
    return x, x[:, 0] * x[:, 1]


def compute(s: Setup, *, n_threads=None, log=None) -> Data:
    """Train every network; ``log(str)`` hears about each one."""
    if s.n_gamma < 9 or (s.n_gamma - 1) % 8:
        raise ValueError(f"n_gamma: expected 8k + 1 >= 9 (so that multiples of π/4 are on the grid), got {s.n_gamma}")
    log = log or (lambda _msg: None)
    dtype = np.dtype(s.dtype)
    gamma = np.linspace(-math.pi, math.pi, s.n_gamma)
    xs = circle(gamma)
    x_train, y_train = training_set(s)
    n = len(x_train)
    kw = dict(depth=s.depth, activation="relu", weight_std=s.weight_std, bias_std=s.bias_std)

    # Gradient descent on the (1/N)-normalised MSE is stable iff lr < 2N / λ_max(Θ); a finite
    # network's NTK is close to the limit, so check the limit's Gram before training anything.
    lam = np.linalg.eigvalsh(ntkfast.ntk(x_train, **kw, n_threads=n_threads))
    lr_bound = 2 * n / lam[-1]
    if s.lr >= lr_bound:
        raise ValueError(f"lr: {s.lr} would diverge (the NTK bound is lr < 2N/λ_max = {lr_bound:.3g})")
    unfitted = math.exp(-s.time * lam[0] / n)

    ens = ntkfast.infinite_ensemble(x_train, y_train, xs, np.inf, get="ntk", **kw, n_threads=n_threads)
    quantiles = {q: np.asarray(ens.quantile(q))[0] for q in QUANTILES}

    runs = []
    for width in s.widths:
        start = time.perf_counter()
        fs, losses = [], []
        for i in range(s.n_nets):
            net = ntkfast.init_mlp([2] + [width] * (s.depth - 1) + [1], activation="relu",
                                    weight_std=s.weight_std, bias_std=s.bias_std,
                                    seed=[s.seed, 3, width, i], dtype=dtype)
            hist = ntkfast.train(net, x_train, y_train, lr=s.lr, steps=s.steps, x_test=xs,
                                 record_every=max(s.steps, 1), progress=False,
                                 n_threads=threads_for(width, n_threads))
            fs.append(np.asarray(hist.f_test[-1], dtype=np.float64))
            losses.append(float(hist.loss[-1]))
        runs.append(WidthRuns(width=width, f=np.array(fs), loss_trained=np.array(losses),
                              seconds=time.perf_counter() - start))
        log(f"width {width}: {s.n_nets} networks trained, final loss {np.mean(losses):.2e} on average "
            f"({runs[-1].seconds:.1f} s)")
    return Data(setup=s, gamma=gamma, x_train=x_train, y_train=y_train, lr_bound=lr_bound,
                unfitted=unfitted, quantiles=quantiles, runs=tuple(runs))


def report(d: Data) -> str:
    s = d.setup
    idx = [angle_index(d.gamma, a) for a in TABLE_ANGLES]
    deg = ", ".join(f"{math.degrees(a):g}°" for a in s.train_angles)
    lines = [
        "Figure 2 (Jacot et al. 2018): trained networks f(x(γ)), x(γ) = (cos γ, sin γ), against the "
        "t = ∞ Gaussian of the infinite ensemble",
        f"  depth {s.depth} relu, weight_std {s.weight_std}, bias_std {s.bias_std}, NTK "
        f"parameterization, {s.dtype}; widths {', '.join(map(str, s.widths))}, {s.n_nets} networks each",
        f"  training points at γ = {deg}: x = "
        + " ".join(f"({x[0]:.4f}, {x[1]:.4f})" for x in d.x_train),
        "  targets f*(x) = x_1 x_2 = " + " ".join(f"{y:.4f}" for y in d.y_train),
        f"  {s.steps} steps of gradient descent, lr {s.lr} (t = {s.time:g}; cost (1/N) Σ ½(f − y)²); "
        f"stability bound 2N/λ_max(Θ∞) = {d.lr_bound:.3f}; e^(−t λ_min/N) = {d.unfitted:.2e}",
        "",
        "f(x(γ))             " + "".join(f"{lab:>18}" for lab in TABLE_LABELS),
    ]
    for q in QUANTILES:
        lines.append(f"{'n = ∞, ' + format(int(100 * q)) + 'th pct':<20}"
                     + "".join(f"{d.quantiles[q][i]:>18.4f}" for i in idx))
    for r in d.runs:
        sd = r.f.std(axis=0, ddof=1) if len(r.f) > 1 else np.zeros_like(r.f[0])
        lines.append(f"{'n = ' + str(r.width) + ', mean ± std':<20}"
                     + "".join(f"{f'{r.f[:, i].mean():.4f} ± {sd[i]:.4f}':>18}" for i in idx))
        inside = d.in_band(r.f)
        lines.append(f"{'  in 10–90 band':<20}" + "".join(
            f"{f'{int(inside[:, i].sum())}/{len(r.f)}':>18}" for i in idx))
    lines += ["", f"{'width':>6}  {'final loss':>10}  {'in 10–90 band (all γ)':>22}  {'time':>7}"]
    for r in d.runs:
        lines.append(f"{r.width:>6}  {r.loss_trained.mean():>10.2e}  "
                     f"{100 * d.in_band(r.f).mean():>21.1f}%  {r.seconds:>6.1f}s")
    lines.append(f"(the band holds 80% of the infinite ensemble; fractions over the {s.n_gamma}-point "
                 "γ grid, where the band is ~0 wide at the training angles)")
    return "\n".join(lines)
