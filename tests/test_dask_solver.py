"""ntkfast.dask.nystrom_krr on a real cluster equals the local ntkfast.nystrom_krr (bit for bit
here: one BLAS thread on both sides), with K(X, C) kept on the workers or recomputed by every
pass, at t = ∞ and at a finite t; prediction of Dask arrays; bad input named."""
import dask
import dask.array as da
import numpy as np
import pytest

import ntkfast
import ntkfast.dask as nd
from ntkfast import _nystrom_blocks

RELU = ntkfast.InfiniteWidthKernel(depth=3, bias_std=0.1)
RNG = np.random.default_rng(11)
X = RNG.standard_normal((2000, 5))
Y = np.stack([np.sin(X[:, 0]) + 0.1 * RNG.standard_normal(2000), np.cos(X[:, 1] * X[:, 2])], axis=1)
X_TEST = RNG.standard_normal((300, 5))


@pytest.fixture
def small_chunks(monkeypatch):
    """Product blocks of 40 rows, factor blocks of 120, chunks of 480 (by default one chunk holds
    64 MB of kernel values: all of this problem). The client decides the sizes and sends them
    with the tasks, so patching them here reaches the workers too."""
    monkeypatch.setattr(_nystrom_blocks, "product_rows", lambda m: 40)
    monkeypatch.setattr(_nystrom_blocks, "factor_rows", lambda m: 120)
    assert _nystrom_blocks.chunk_rows(100) == 480  # 2000 rows: 5 chunks, the last one ragged


def relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("t, budget", [(np.inf, None), (np.inf, 100_000), (25.0, None)],
                         ids=["kept", "recomputed", "finite-t"])
def test_the_distributed_solver_equals_the_local_one(dask_client, small_chunks, t, budget):
    kw = dict(ridge=0.3, n_centers=100, random_state=4, t=t, memory_budget=budget, progress=False)
    local = ntkfast.nystrom_krr(RELU, X, Y, **kw)
    x = da.from_array(X, chunks=((300, 700, 1000), 5))  # the user's chunks: rechunked to the solver's
    y = da.from_array(Y, chunks=(250, 2))
    model = nd.nystrom_krr(RELU, x, y, **kw)
    assert (model.iterations, model.kernel_passes, model.solver) == \
        (local.iterations, local.kernel_passes, local.solver)
    np.testing.assert_array_equal(model.center_indices, local.center_indices)
    assert relative(model.coefficients, local.coefficients) <= 1e-12
    np.testing.assert_array_equal(model.coefficients, local.coefficients)  # and in fact bit for bit
    np.testing.assert_array_equal(model.residuals, local.residuals)
    pred = model.predict(da.from_array(X_TEST, chunks=70))
    assert isinstance(pred, da.Array) and pred.chunks == ((70, 70, 70, 70, 20), (2,))
    np.testing.assert_array_equal(pred.compute(), local.predict(X_TEST, block_rows=70))


def test_the_threaded_scheduler_and_one_output(small_chunks):
    kw = dict(ridge=0.3, n_centers=100, random_state=4, progress=False)
    local = ntkfast.nystrom_krr(RELU, X, Y[:, 0], **kw)
    with dask.config.set(scheduler="threads"):
        model = nd.nystrom_krr(RELU, X, Y[:, 0], **kw)  # numpy in: chunked by the solver
        pred = model.predict(da.from_array(X_TEST, chunks=100)).compute()
    np.testing.assert_array_equal(model.coefficients, local.coefficients)
    assert model.coefficients.shape == (100,) and pred.shape == (300,)
    np.testing.assert_array_equal(pred, local.predict(X_TEST, block_rows=100))


def test_bad_input_is_refused_by_name(dask_client):
    kw = dict(ridge=0.3, n_centers=50, progress=False)
    with pytest.raises(ValueError, match=r"^y: expected shape \(2000,\)"):
        nd.nystrom_krr(RELU, X, Y[:1999], **kw)
    with pytest.raises(ValueError, match=r"^x: expected chunks by rows only"):
        nd.nystrom_krr(RELU, da.from_array(X, chunks=(500, 2)), Y, **kw)
    with pytest.raises(ValueError, match=r"^kernel: the solver needs scalar kernel entries"):
        nd.nystrom_krr(ntkfast.EmpiricalKernel(ntkfast.init_mlp([5, 8, 2], seed=0), output="full"),
                       X, Y, **kw)
    with pytest.raises(ValueError, match=r"^ridge"):
        nd.nystrom_krr(RELU, X, Y, ridge=-1.0, n_centers=50)
    bad = Y.copy()
    bad[1234, 1] = np.inf
    with pytest.raises(ValueError, match=r"^y: chunk 0 \(rows 0:2000\) contains NaN or infinity "
                       r"\(first at row 1234, column 1\)"):
        nd.nystrom_krr(RELU, X, bad, **kw)
    with pytest.raises(ValueError, match=r"^x: expected 5 features to match the centers"):
        ntkfast.nystrom_krr(RELU, X[:200], Y[:200], **kw).predict(da.from_array(X_TEST[:, :4]))
