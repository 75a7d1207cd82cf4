"""``ntkfast paper fig1|fig2``: the computations on tiny widths, the limit fixture, the PNGs, the CLI."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from ntkfast import cli
from ntkfast.paper import fig1, fig2
from ntkfast.paper import plot as _paper_plot

# ntk-math.md §6: Θ^(4)(x_0, x(γ)) at γ = 0, π/4, π/2, 3π/4, π (ReLU, β = 0.1, σ_w = 1).
FIG1_LIMIT = (0.28250, 0.16997, 0.09270, 0.06604, 0.06435)

TINY1 = dataclasses.replace(fig1.setup(quick=True), widths=(16, 64), n_inits=2, steps=20, n_gamma=17)
TINY2 = dataclasses.replace(fig2.setup(quick=True), widths=(16, 64), n_nets=3, steps=200, n_gamma=25)


@pytest.fixture(scope="module")
def data1():
    return fig1.compute(TINY1)


@pytest.fixture(scope="module")
def data2():
    return fig2.compute(TINY2)


def test_fig1_limit_matches_fixture(data1):
    got = [data1.limit[fig1.angle_index(data1.gamma, a)] for a in fig1.TABLE_ANGLES]
    np.testing.assert_allclose(got, FIG1_LIMIT, atol=5e-6)


def test_fig1_shapes_training_and_report(data1):
    s = data1.setup
    assert data1.gamma.shape == (s.n_gamma,)
    assert data1.x_train.shape == (s.n_train, 2)
    np.testing.assert_array_equal(data1.y_train, data1.x_train[:, 0] * data1.x_train[:, 1])
    assert [r.width for r in data1.runs] == list(s.widths)
    for r in data1.runs:
        assert r.theta_init.shape == r.theta_trained.shape == (s.n_inits, s.n_gamma)
        assert np.isfinite(r.theta_init).all() and np.isfinite(r.theta_trained).all()
        assert (r.loss_trained < r.loss_init).all()      # gradient descent did train
        assert (r.relative_change > 0).all()             # ... and moved the kernel
    text = fig1.report(data1)
    for value in FIG1_LIMIT:
        assert f"{value:.5f}" in text
    assert f"N = {s.n_train}" in text


def test_fig1_same_seed_same_numbers():
    s = dataclasses.replace(TINY1, widths=(8,), n_inits=1, steps=3, n_gamma=9)
    a, b = fig1.compute(s), fig1.compute(s)
    np.testing.assert_array_equal(a.runs[0].theta_trained, b.runs[0].theta_trained)


def test_fig1_grid_must_hold_the_table_angles():
    with pytest.raises(ValueError, match="n_gamma"):
        fig1.compute(dataclasses.replace(TINY1, n_gamma=20))


def test_fig2_percentiles_and_training(data2):
    s = data2.setup
    q10, q50, q90 = (data2.quantiles[q] for q in fig2.QUANTILES)
    assert q10.shape == (s.n_gamma,)
    assert (q10 <= q50).all() and (q50 <= q90).all()
    # At t = ∞ the ensemble interpolates: its band closes on the training targets.
    for angle, y in zip(s.train_angles, data2.y_train):
        i = fig1.angle_index(data2.gamma, angle)
        assert q50[i] == pytest.approx(y, abs=1e-6)
        assert q90[i] - q10[i] < 1e-3
    assert 0 < data2.lr_bound and s.lr < data2.lr_bound
    for r in data2.runs:
        assert r.f.shape == (s.n_nets, s.n_gamma)
        assert (r.loss_trained < 1e-3).all()
    text = fig2.report(data2)
    assert "in 10–90 band" in text and "targets f*(x)" in text


def test_fig2_refuses_a_diverging_lr():
    with pytest.raises(ValueError, match="lr"):
        fig2.compute(dataclasses.replace(TINY2, lr=100.0))


def _assert_small_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) < 200_000


def test_plots_are_small_pngs(data1, data2, tmp_path):
    pytest.importorskip("matplotlib")
    _paper_plot.plot_fig1(data1, tmp_path / "f1.png")
    _paper_plot.plot_fig2(data2, tmp_path / "f2.png")
    _assert_small_png(tmp_path / "f1.png")
    _assert_small_png(tmp_path / "f2.png")


def test_cli_quick_writes_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "fig2.png"
    assert cli.main(["paper", "fig2", "--quick", "--out", str(out), "--threads", "1"]) == 0
    _assert_small_png(out)
    assert "10th pct" in capsys.readouterr().out


def test_cli_without_matplotlib_prints_numbers_and_says_how_to_install(monkeypatch, tmp_path, capsys):
    def missing():
        raise _paper_plot.MissingMatplotlib("drawing the figure needs matplotlib: pip install 'ntkfast[paper]'")

    monkeypatch.setattr(_paper_plot, "require_matplotlib", missing)
    out = tmp_path / "fig2.png"
    assert cli.main(["paper", "fig2", "--quick", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "50th pct" in captured.out
    assert "ntkfast[paper]" in captured.err
    assert not out.exists()


def test_missing_matplotlib_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(_paper_plot.MissingMatplotlib, match=r"pip install 'ntkfast\[paper\]'"):
        _paper_plot.require_matplotlib()


def test_table_angles_are_grid_points():
    gamma = np.linspace(-math.pi, math.pi, fig1.setup().n_gamma)
    for a in fig1.TABLE_ANGLES + fig2.TABLE_ANGLES + fig2.Setup().train_angles:
        fig1.angle_index(gamma, a)
