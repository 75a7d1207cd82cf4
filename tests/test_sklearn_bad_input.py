"""Bad input to the scikit-learn estimators and the GP kernel: refused through scikit-learn's
own validation with errors that name the problem."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

import scipy.sparse as sp  # noqa: E402

from ntkfast.sklearn import NTKClassifier, NTKGPKernel, NTKRegressor  # noqa: E402

X = np.random.default_rng(0).standard_normal((12, 3))
Y = np.arange(12.0)
LABELS = np.arange(12) % 2


@pytest.mark.parametrize("est", [NTKRegressor(), NTKClassifier()])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_inputs(est, bad):
    x = X.copy()
    x[3, 1] = bad
    with pytest.raises(ValueError, match="Input X contains"):
        est.fit(x, LABELS)
    fitted = est.fit(X, LABELS)
    with pytest.raises(ValueError, match="Input X contains"):
        fitted.predict(x)


def test_nonfinite_targets():
    with pytest.raises(ValueError, match="Input y contains NaN"):
        NTKRegressor().fit(X, np.where(Y > 5, np.nan, Y))


@pytest.mark.parametrize("est", [NTKRegressor(), NTKClassifier()])
def test_sparse_is_refused(est):
    with pytest.raises(TypeError, match="[Ss]parse"):
        est.fit(sp.csr_matrix(X), LABELS)
    fitted = est.fit(X, LABELS)
    with pytest.raises(TypeError, match="[Ss]parse"):
        fitted.predict(sp.csr_matrix(X))


def test_one_sample():
    est = NTKRegressor().fit(X[:1], Y[:1])
    assert est.predict(X).shape == (12,)
    with pytest.raises(ValueError, match="1 class"):
        NTKClassifier().fit(X[:1], LABELS[:1])


def test_string_labels_work_and_single_class_is_refused():
    labels = np.where(LABELS == 1, "yes", "no")
    clf = NTKClassifier().fit(X, labels)
    assert set(clf.predict(X)) == {"yes", "no"}
    np.testing.assert_array_equal(clf.predict(X), labels)  # interpolates its training data
    with pytest.raises(ValueError, match="at least 2 classes; got 1 class"):
        NTKClassifier().fit(X, np.full(12, "yes"))


def test_continuous_labels_are_refused():
    with pytest.raises(ValueError, match="Unknown label type"):
        NTKClassifier().fit(X, Y + 0.5)


@pytest.mark.parametrize("est", [NTKRegressor(), NTKClassifier()])
def test_wrong_length_y(est):
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(X, LABELS[:-1])


def test_wrong_feature_count_at_predict():
    est = NTKRegressor().fit(X, Y)
    with pytest.raises(ValueError, match="3 features"):
        est.predict(X[:, :2])


@pytest.mark.parametrize("params,match", [
    (dict(solver="lu"), "solver: expected one of"),
    (dict(kernel="rbf"), "kernel: expected one of"),
    (dict(t=-1.0), "t == -1.0, must be >= 0"),
    (dict(t=float("nan")), "t"),
    (dict(ridge=-1e-3), "ridge == -0.001, must be >= 0"),
    (dict(n_centers=13, solver="nystrom"), "n_centers: expected at most n_samples = 12"),
    (dict(n_centers=0, solver="nystrom"), "n_centers == 0, must be >= 1"),
    (dict(solver="cholesky", t=1.0), "t = inf"),
    (dict(solver="cg", t=1.0), "t = inf"),
    (dict(depth=0), "depth"),
    (dict(activation="nope"), "activation"),
])
def test_bad_parameters(params, match):
    for est in (NTKRegressor(**params), NTKClassifier(**params)):
        with pytest.raises(ValueError, match=match):
            est.fit(X, LABELS)


def test_bad_parameter_types():
    with pytest.raises(TypeError, match="ridge"):
        NTKRegressor(ridge="big").fit(X, Y)
    with pytest.raises(TypeError, match="n_centers"):
        NTKRegressor(n_centers=2.5).fit(X, Y)


def test_std_and_cov_together_are_refused():
    with pytest.raises(ValueError, match="at most one"):
        NTKRegressor().fit(X, Y).predict(X, return_std=True, return_cov=True)


def test_gp_kernel_bad_input():
    with pytest.raises(ValueError, match="Y is None"):
        NTKGPKernel()(X, X, eval_gradient=True)
    with pytest.raises(ValueError, match="weight_variance"):
        NTKGPKernel(weight_variance=-1.0)(X)
    with pytest.raises(ValueError, match="contains NaN"):
        NTKGPKernel()(np.where(X > 1, np.nan, X))
    with pytest.raises(ValueError, match="not implemented"):
        NTKGPKernel(activation="elu")(X, eval_gradient=True)
    with pytest.raises(ValueError, match="kernel: expected"):
        NTKGPKernel(kernel="rbf")(X)
    with pytest.raises(ValueError, match="log-space"):
        NTKGPKernel(bias_variance=0.0)(X, eval_gradient=True)
    value, grad = NTKGPKernel(bias_variance=0.0, bias_variance_bounds="fixed")(X, eval_gradient=True)
    assert grad.shape == (12, 12, 1)
