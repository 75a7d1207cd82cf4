"""Draw the data of ``fig1`` / ``fig2`` as PNGs with matplotlib (an optional extra).

matplotlib is imported only here, and only when a figure is drawn. The object-oriented API with
the Agg canvas is used instead of pyplot so that no global backend or figure state is touched
(the command works without a display and leaves an interactive session's pyplot alone).
"""
from __future__ import annotations

import math

import numpy as np

# One colour per width: the smaller width first, in the order of the setup's widths.
WIDTH_COLOURS = ("tab:orange", "tab:blue", "tab:green", "tab:purple")
PI_TICKS = ([-math.pi, -math.pi / 2, 0.0, math.pi / 2, math.pi],
            [r"$-\pi$", r"$-\pi/2$", r"$0$", r"$\pi/2$", r"$\pi$"])


class MissingMatplotlib(ImportError):
    pass


def require_matplotlib() -> None:
    """Raise MissingMatplotlib with the install hint when matplotlib is not importable."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise MissingMatplotlib(
            "drawing the figure needs matplotlib, which is not installed: "
            "pip install 'ntkfast[paper]' (or pip install matplotlib)") from e


def _figure():
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.4), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xticks(*PI_TICKS)
    ax.set_xlim(-math.pi, math.pi)
    ax.set_xlabel(r"$\gamma$,  $x = (\cos\gamma, \sin\gamma)$")
    ax.grid(alpha=0.3, lw=0.5)
    return fig, ax


def _save(fig, path) -> None:
    """PNG with a 256-colour palette: a third of the bytes of matplotlib's RGBA file, same look
    (the figures are a few flat colours plus their antialiasing)."""
    import io

    from PIL import Image  # a dependency of matplotlib

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    buf.seek(0)
    with Image.open(buf) as img:
        img.convert("RGB").quantize(colors=256).save(path, format="PNG", optimize=True)


def plot_fig1(d, path) -> None:
    """Thin lines: one network each, colour per width, solid at t = 0, dashed after training;
    thick black: the infinite-width NTK."""
    from matplotlib.lines import Line2D

    s = d.setup
    fig, ax = _figure()
    handles = []
    for r, colour in zip(d.runs, WIDTH_COLOURS):
        for theta0, theta_t in zip(r.theta_init, r.theta_trained):
            ax.plot(d.gamma, theta0, color=colour, lw=0.7, alpha=0.8)
            ax.plot(d.gamma, theta_t, color=colour, lw=0.7, alpha=0.8, ls="--")
        handles += [Line2D([], [], color=colour, lw=1, label=f"$n = {r.width}$, $t = 0$"),
                    Line2D([], [], color=colour, lw=1, ls="--", label=f"$n = {r.width}$, $t = {s.time:g}$")]
    handles.append(ax.plot(d.gamma, d.limit, color="black", lw=2.5, label=r"$n = \infty$")[0])
    ax.set_ylabel(rf"$\Theta^{{({s.depth})}}(x_0, x)$,  $x_0 = (1, 0)$")
    ax.set_title(f"NTK of depth-{s.depth} ReLU networks ($\\beta = {s.bias_std:g}$), "
                 f"{s.n_inits} initializations per width", fontsize=10)
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    _save(fig, path)


def plot_fig2(d, path) -> None:
    """Thin lines: the trained networks, colour per width; black: the 50th percentile (solid) and
    the 10th and 90th (dashed, shaded between) of the infinite-width t = ∞ Gaussian."""
    from matplotlib.lines import Line2D

    s = d.setup
    fig, ax = _figure()
    handles = []
    for r, colour in zip(d.runs, WIDTH_COLOURS):
        for f in r.f:
            ax.plot(d.gamma, f, color=colour, lw=0.7, alpha=0.8)
        handles.append(Line2D([], [], color=colour, lw=1, label=f"$n = {r.width}$"))
    q = [d.quantiles[k] for k in sorted(d.quantiles)]
    ax.fill_between(d.gamma, q[0], q[-1], color="0.85", lw=0)
    handles.append(ax.plot(d.gamma, q[len(q) // 2], color="black", lw=2, label=r"$n = \infty$, 50th pct")[0])
    ax.plot(d.gamma, q[0], color="black", lw=1.2, ls="--")
    handles.append(ax.plot(d.gamma, q[-1], color="black", lw=1.2, ls="--",
                           label=r"$n = \infty$, 10th / 90th pct")[0])
    angles = np.arctan2(d.x_train[:, 1], d.x_train[:, 0])
    handles.append(ax.plot(angles, d.y_train, "o", color="crimson", ms=6, zorder=5,
                           label="training points")[0])
    ax.set_ylabel(r"$f_\theta(x)$")
    ax.set_title(f"Depth-{s.depth} ReLU networks ($\\beta = {s.bias_std:g}$) after {s.steps} steps "
                 f"(t = {s.time:g}), {s.n_nets} per width", fontsize=10)
    ax.legend(handles=handles, fontsize=8, loc="best")
    _save(fig, path)


def plot_fig3(d, path) -> None:
    """Left: the component of f_t − f* along f^(2) over t, one line per width, black the kernel
    prediction. Right: the paper's plane, (that component, the norm of the rest): kernel
    gradient descent runs along the axis to the origin (f*)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    s = d.setup
    fig = Figure(figsize=(9.0, 4.0), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    for r, colour in zip(d.runs, WIDTH_COLOURS):
        label = f"$n = {r.width}$ (deviation {r.deviation:.2f})"
        left.plot(d.t, r.along, color=colour, lw=1.2, label=label)
        right.plot(r.along, r.across, color=colour, lw=1.2, marker=".", ms=3, label=label)
    left.plot(d.t, d.kernel_along, color="black", lw=2, label=r"$n = \infty$ (kernel GD)")
    right.plot(d.kernel_along, np.zeros_like(d.kernel_along), color="black", lw=2,
               label=r"$n = \infty$")
    right.plot([0], [0], "o", color="crimson", ms=6, zorder=5, label=r"$f^*$")
    left.set_xlabel("$t$ = lr × steps")
    left.set_ylabel(r"$\langle f_t - f^*, f^{(2)}\rangle_{p^{in}}$")
    right.set_xlabel(r"$\langle f_t - f^*, f^{(2)}\rangle_{p^{in}}$")
    right.set_ylabel(r"$\|f_t - f^*\|_{p^{in}}$ orthogonal to $f^{(2)}$")
    for ax in (left, right):
        ax.grid(alpha=0.3, lw=0.5)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"Depth-{s.depth} ReLU networks on {s.n_points} digits, target "
                 f"$f^* = {s.target_scale:g}\\,f^{{(2)}}$, {s.steps} steps of lr {s.lr:g}",
                 fontsize=10)
    _save(fig, path)
