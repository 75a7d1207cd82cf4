"""Figure 3 of Jacot, Gabriel & Hongler (2018): training along a principal component of the NTK.

The paper takes N = 512 MNIST digits, the NTK's principal components on them (eigenvectors of
K/N: ntkfast.eigenpairs), sets the target along the second, f* = c·f^(2) (‖f^(2)‖_p_in = 1;
c = 10 here, Setup.target_scale), and trains networks of widths 100, 1000 and 10000 by
gradient descent on the MSE.
Kernel gradient descent moves f_t − f* along f^(2) alone, as e^{−λ_2 t}: a straight line in the
plane of (the component of f_t − f* along f^(2), the norm of the rest). Finite networks leave that
line by their random f_0 and by the change of their kernel; wider ones stay closer.

MNIST is not available offline: scikit-learn's bundled ``load_digits`` (8×8 digits, n_0 = 64)
stands in, 512 of them, each centred by the pixel means and scaled to ‖x‖²/n_0 = 1. The network
is depth 3 (one n×n layer; the paper does not state its depth in the figure) with ReLU, β = 0.1;
gradient descent with lr 2 for 80 steps, t = 160 = 6.7/λ_2. (lr 4 is stable for the limit,
lr·λ_1 = 0.83, but not for the width-100 network, which then oscillates without diverging.)

The per-width deviation is max_t ‖f_t − f_t^K‖_p_in / ‖f*‖_p_in, f_t^K the kernel prediction from
the same network's f_0 with the infinite-width NTK. At lr·λ_1 ≈ 0.4 the continuous-time flow
(kernel_gd_mse) is not quite what gradient descent does along the top component ((1 − lr·λ)^k
against e^{−λ t}), so the prediction is kernel gradient descent with the same steps,
f_k − f* = V (1 − lr·Λ/N)^k Vᵀ (f_0 − f*); the curve along f^(2) is −c·(1 − lr·λ_2)^k.

This module computes plain numpy data (no matplotlib); ``plot`` draws it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

import ntkfast
from .fig1 import threads_for


@dataclass(frozen=True)
class Setup:
    widths: tuple = (100, 1000, 10000)
    n_points: int = 512
    depth: int = 3
    bias_std: float = 0.1
    target_scale: float = 10.0
    lr: float = 2.0
    steps: int = 80
    record_every: int = 4
    seed: int = 0
    dtype: str = "float32"

    @property
    def time(self) -> float:
        return self.lr * self.steps


def setup(quick: bool = False, seed: int = 0) -> Setup:
    """The paper's setup, or with ``quick`` 128 digits and widths 100, 800 (seconds)."""
    if quick:
        return Setup(widths=(100, 800), n_points=128, seed=seed, dtype="float64")
    return Setup(seed=seed)


@dataclass(frozen=True)
class WidthRun:
    width: int
    along: np.ndarray        # (R,) ⟨f_t − f*, f^(2)⟩_p_in
    across: np.ndarray       # (R,) ‖f_t − f* − along·f^(2)‖_p_in
    deviation: float         # max_t ‖f_t − f_t^K‖_p_in / ‖f*‖_p_in
    seconds: float


@dataclass(frozen=True)
class Data:
    setup: Setup
    eigenvalues: np.ndarray  # top 3 of K/N
    residuals: np.ndarray
    t: np.ndarray            # (R,) record times
    kernel_along: np.ndarray  # (R,) −c·(1 − lr·λ_2)^k: kernel GD from f_0 = 0
    runs: tuple


def digits(n_points: int) -> np.ndarray:
    """The first n_points of scikit-learn's load_digits, centred, rows scaled to ‖x‖²/n_0 = 1."""
    from sklearn.datasets import load_digits

    x = load_digits().data[:n_points].astype(np.float64)
    x = x - x.mean(axis=0)
    return x / np.sqrt(np.mean(x * x, axis=1, keepdims=True))


def plane(f: np.ndarray, target: np.ndarray, pc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(along, across) of f_t − f* for f (R, N): the component along the unit-p_in vector pc and
    the p_in norm of the rest."""
    n = pc.size
    diff = f - target
    along = diff @ pc / n
    rest = diff - along[:, None] * pc
    return along, np.sqrt(np.sum(rest * rest, axis=1) / n)


def kernel_steps(gram: np.ndarray, target: np.ndarray, f0: np.ndarray, lr: float,
                 steps: np.ndarray) -> np.ndarray:
    """Kernel gradient descent with gradient-descent steps: f_k = f* + V (1 − lr·Λ/N)^k Vᵀ (f_0 − f*),
    (R, N) for the step counts k."""
    lam, v = np.linalg.eigh(gram)
    coef = v.T @ (f0 - target)
    factor = (1 - lr * lam / len(target))[None, :] ** np.asarray(steps, dtype=np.float64)[:, None]
    return target + (factor * coef) @ v.T


def compute(s: Setup, *, n_threads=None, log=None) -> Data:
    log = log or (lambda _msg: None)
    x = digits(s.n_points)
    n = len(x)
    kernel = ntkfast.InfiniteWidthKernel(depth=s.depth, activation="relu", bias_std=s.bias_std)
    gram = kernel(x, n_threads=n_threads)
    pairs = ntkfast.eigenpairs(gram, 3)
    if s.lr * pairs.values[0] >= 2:
        raise ValueError(f"lr: {s.lr} would diverge (lr < 2/λ_1 = {2 / pairs.values[0]:.3g})")
    pc = pairs.vectors[:, 1] * np.sqrt(n)  # ‖pc‖_p_in = 1
    target = s.target_scale * pc
    log(f"top eigenvalues of K/N: {pairs.values}")

    runs, t = [], None
    for width in s.widths:
        start = time.perf_counter()
        net = ntkfast.init_mlp([x.shape[1]] + [width] * (s.depth - 1) + [1], activation="relu",
                               bias_std=s.bias_std, seed=[s.seed, 3, width], dtype=s.dtype)
        hist = ntkfast.train(net, x, target, lr=s.lr, steps=s.steps, record_every=s.record_every,
                             progress=False, n_threads=threads_for(width, n_threads))
        t = hist.t
        f = np.asarray(hist.f_train, dtype=np.float64)
        along, across = plane(f, target, pc)
        predicted = kernel_steps(gram, target, f[0], s.lr, hist.step)
        dev = np.sqrt(np.mean((f - predicted) ** 2, axis=1)).max() / s.target_scale
        runs.append(WidthRun(width, along, across, float(dev), time.perf_counter() - start))
        log(f"width {width}: deviation from the kernel {dev:.3g} ({runs[-1].seconds:.1f} s)")
    kernel_along = -s.target_scale * (1 - s.lr * pairs.values[1]) ** hist.step
    return Data(s, pairs.values, pairs.residuals, t, kernel_along, tuple(runs))


def report(d: Data) -> str:
    s = d.setup
    lam = d.eigenvalues
    lines = [
        "Figure 3 (Jacot et al. 2018): training along the 2nd principal component of the NTK",
        f"  {s.n_points} digits of scikit-learn's load_digits (8×8, standing in for MNIST), "
        f"depth {s.depth} relu, bias_std {s.bias_std}, {s.dtype}",
        f"  top eigenvalues of K/N: {lam[0]:.5f}, {lam[1]:.5f}, {lam[2]:.5f} (residuals "
        f"{d.residuals.max():.1e}); target f* = {s.target_scale:g}·f^(2)",
        f"  {s.steps} steps of gradient descent, lr {s.lr} (t = {s.time:g}, "
        f"e^(−λ_2 t) = {np.exp(-lam[1] * s.time):.2e})",
        "",
        f"{'width':>6}  {'along at t=0':>12}  {'along at end':>12}  {'across (max)':>12}  "
        f"{'deviation':>10}  {'time':>7}",
        f"{'∞':>6}  {d.kernel_along[0]:>12.3f}  {d.kernel_along[-1]:>12.3f}  {0.0:>12.3f}  "
        f"{0.0:>10.3g}  {'':>7}",
    ]
    for r in d.runs:
        lines.append(f"{r.width:>6}  {r.along[0]:>12.3f}  {r.along[-1]:>12.3f}  "
                     f"{r.across.max():>12.3f}  {r.deviation:>10.3g}  {r.seconds:>6.1f}s")
    lines.append("(deviation: max over t of ‖f_t − f_t^K‖_p_in / ‖f*‖_p_in, f_t^K kernel GD "
                 "from the network's own f_0)")
    return "\n".join(lines)
