"""Infinite-width kernels computed in passes (ranges of layers, blocks of points) equal the one-pass
result bit for bit, and their working memory does not grow with depth × N or with per-point
series tables (issue: 24 GB of diagonals for depth 10⁶, 10 KB per row of a tanh cross kernel).

The passes are forced here by shrinking the table budget of ntkfast._kernel_passes; in real use
they start when the per-point tables of all layers would outgrow the output (at least 256 MiB).
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ntkfast
from ntkfast import _kernel_passes, activations, reference

ACTIVATIONS = ["relu", "abs", activations.leaky_relu(0.2), "erf", "identity", "sin", "elu",
               activations.elu(alpha=0.5), "tanh", "gelu", lambda z: np.sin(z) + 0.5 * z]


def _ids(act):
    return getattr(act, "name", None) or (act if isinstance(act, str) else "callable")


def _force_passes(monkeypatch, budget_bytes: int, block_rows: int | None = None):
    monkeypatch.setattr(_kernel_passes, "table_budget", lambda n1, n2, itemsize: budget_bytes)
    if block_rows is not None:
        monkeypatch.setattr(_kernel_passes, "MIN_BLOCK_ROWS", block_rows)


def _all_kernels(x1, x2, **kw):
    k = ntkfast.kernels(x1, x2, **kw)
    return {"nngp": k.nngp, "ntk": k.ntk, "ntk()": ntkfast.ntk(x1, x2, **kw),
            "nngp()": ntkfast.nngp(x1, x2, **kw)}


@pytest.mark.parametrize("act", ACTIVATIONS, ids=_ids)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("symmetric", [True, False])
def test_layer_passes_change_no_bit(act, dtype, symmetric, monkeypatch, rng):
    x1 = rng.standard_normal((37, 4))
    x1[5] = x1[3]  # duplicated rows and a zero row: the gaps and the zero-variance conventions
    x1[7] = 0.0
    x2 = None if symmetric else np.concatenate([x1[:4], rng.standard_normal((9, 4))])
    kw = dict(depth=6, activation=act, dtype=dtype, bias_std=0.3, weight_std=1.2)
    whole = _all_kernels(x1, x2, **kw)
    for budget in (1, 3 * 48 * (len(x1) + (0 if x2 is None else len(x2)))):  # 1 and 2 steps a pass
        with monkeypatch.context() as m:
            _force_passes(m, budget)
            for threads in (1, 3):
                parts = _all_kernels(x1, x2, n_threads=threads, **kw)
                for name, a in whole.items():
                    np.testing.assert_array_equal(parts[name], a, err_msg=f"{name}, budget {budget}")


@pytest.mark.parametrize("act", ["relu", "erf", "tanh", "elu", activations.leaky_relu(0.2)], ids=_ids)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("large", ["x1", "x2"])
def test_blocks_of_a_large_side_change_no_bit(act, dtype, large, monkeypatch, rng):
    # Ragged blocks of 7 rows (or columns) of the large side, 1 or 2 layer steps a pass.
    big, small = rng.standard_normal((40, 3)), rng.standard_normal((5, 3))
    small[0] = big[11]  # a duplicate across the two sets
    x1, x2 = (big, small) if large == "x1" else (small, big)
    kw = dict(depth=4, activation=act, dtype=dtype, bias_std=0.1)
    whole = _all_kernels(x1, x2, **kw)
    for budget in (1, 48 * 4 * (7 + 5)):
        with monkeypatch.context() as m:
            _force_passes(m, budget, block_rows=7)
            parts = _all_kernels(x1, x2, n_threads=2, **kw)
            for name, a in whole.items():
                np.testing.assert_array_equal(parts[name], a, err_msg=f"{name}, budget {budget}")


def test_passes_match_the_reference(monkeypatch, rng):
    x = rng.standard_normal((20, 3))
    _force_passes(monkeypatch, 1, block_rows=6)
    for act in ("relu", "tanh"):
        fast = ntkfast.ntk(x, x[:4] + 0.01, depth=7, activation=act)
        ref = reference.ntk(x, x[:4] + 0.01, depth=7, activation=act)
        np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=0)


def _peak_growth_mib(code: str) -> float:
    """Peak RSS growth (MiB) of a fresh interpreter over the call in ``code`` (which sets
    ``call``), measured against the peak just before it."""
    script = textwrap.dedent("""
        import resource, numpy as np, ntkfast
        from ntkfast import _kernel_passes
        {code}
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        call()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    """).format(code=textwrap.indent(textwrap.dedent(code), "").strip())
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=600, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def test_deep_kernels_do_not_hold_depth_times_n_tables():
    # 400 points, 3000 layers: the per-layer diagonals alone were 3 · 3000 · 400 · 8 B = 29 MB in
    # Python and as much again in the core (the depth 10⁶ case: 24 GB). With an 8 MiB
    # table budget the passes hold a few MB besides the 1.3 MB output and its state arrays.
    growth = _peak_growth_mib("""
        _kernel_passes.MIN_TABLE_BUDGET = 8 << 20
        x = np.random.default_rng(0).standard_normal((400, 2))
        ntkfast.ntk(x[:50], depth=3000)  # warm-up: imports, allocator pools
        def call():
            ntkfast.ntk(x, depth=3000)
    """)
    assert growth < 20, f"peak RSS grew by {growth:.0f} MiB"


def test_a_tanh_cross_kernel_against_few_points_does_not_hold_series_tables_per_row():
    # 60 000 rows against 3: the Hermite tables were ~10 KB per row (600 MB here, 10.1 GB for the
    # issue's 10⁶ rows) for a 1.4 MB output. Blocks of rows keep them to the table budget.
    growth = _peak_growth_mib("""
        _kernel_passes.MIN_TABLE_BUDGET = 16 << 20
        x = np.random.default_rng(0).standard_normal((60_000, 2))
        ntkfast.ntk(x[:100], x[:3] + 0.1, depth=3, activation="tanh")
        def call():
            ntkfast.ntk(x, x[:3] + 0.1, depth=3, activation="tanh")
    """)
    assert growth < 120, f"peak RSS grew by {growth:.0f} MiB"


def test_the_reference_refuses_tables_that_cannot_fit_before_computing():
    # The reference computes in one pass: depth 10⁶ of 1000 points needs 48 GB of tables.
    x = np.random.default_rng(0).standard_normal((1000, 2))
    with pytest.raises(ntkfast.OutputTooLargeError, match="per-layer tables"):
        reference.ntk(x, depth=10**6)
