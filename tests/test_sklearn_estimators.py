"""NTKRegressor / NTKClassifier against the functions they stand for (kernel_gd_mse and
infinite_ensemble on the same Gram, to 1e-10), solver paths against each other, pickling, and
real data (load_digits, bundled with scikit-learn)."""
from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: E402

import ntkfast  # noqa: E402
from ntkfast.sklearn import NTKClassifier, NTKRegressor  # noqa: E402

PARITY = 1e-10


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 5))
    y = np.column_stack([np.sin(x[:, 0]), x[:, 1] * x[:, 2]])
    return x, y, rng.standard_normal((17, 5))


def _close(a, b, tol=PARITY):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.max(np.abs(a - b)) <= tol * max(1.0, np.max(np.abs(b)))


def test_import_ntkfast_does_not_import_sklearn():
    code = "import sys, ntkfast; ntkfast.ntk([[1.0, 2.0]], depth=2); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
@pytest.mark.parametrize("t,solver", [(np.inf, "cholesky"), (np.inf, "eigh"), (3.0, "eigh"), (3.0, "auto")])
def test_regressor_equals_kernel_gd_mse(data, kernel, t, solver):
    x, y, xt = data
    params = dict(depth=3, activation="tanh", bias_std=0.2)
    est = NTKRegressor(**params, kernel=kernel, t=t, ridge=1e-3, solver=solver).fit(x, y)
    k = ntkfast.InfiniteWidthKernel(**params, get=kernel)
    want = ntkfast.kernel_gd_mse(k(x), y, t, k_test_train=k(xt, x), ridge=1e-3).f_test[0]
    _close(est.predict(xt), want)
    assert est.solver_ == ("cholesky" if np.isinf(t) and solver != "eigh" else "eigh")


@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
@pytest.mark.parametrize("t", [np.inf, 2.0])
def test_regressor_std_and_cov_equal_infinite_ensemble(data, kernel, t):
    x, y, xt = data
    est = NTKRegressor(depth=2, bias_std=0.3, kernel=kernel, t=t, ridge=1e-3).fit(x, y[:, 0])
    ens = ntkfast.infinite_ensemble(x, y[:, 0], xt, t, get=kernel, depth=2, bias_std=0.3, ridge=1e-3)
    mean, std = est.predict(xt, return_std=True)
    _close(mean, ens.mean[0])
    _close(std, ens.std[0] if hasattr(ens, "std") and not callable(ens.std) else np.sqrt(ens.var[0]))
    mean2, cov = est.predict(xt, return_cov=True)
    _close(cov, ens.cov[0])
    assert mean.shape == (17,) and cov.shape == (17, 17)


def test_nystrom_with_every_center_agrees_with_cholesky(data):
    x, y, xt = data
    dense = NTKRegressor(ridge=1e-2, solver="cholesky").fit(x, y).predict(xt)
    nys = NTKRegressor(ridge=1e-2, solver="nystrom", n_centers=x.shape[0], tol=1e-12).fit(x, y)
    assert nys.solver_ == "nystrom"
    _close(nys.predict(xt), dense, 1e-8)
    cg = NTKRegressor(ridge=1e-2, solver="cg", n_centers=20, tol=1e-12).fit(x, y).predict(xt)
    _close(cg, dense, 1e-8)


def test_nystrom_finite_time_and_auto_beyond_the_budget(data):
    x, y, xt = data
    est = NTKRegressor(ridge=1e-2, t=5.0, solver="auto", memory_budget=50_000, n_centers=60,
                       tol=1e-12).fit(x, y)
    assert est.solver_ == "nystrom"
    _close(est.predict(xt), NTKRegressor(ridge=1e-2, t=5.0, solver="eigh").fit(x, y).predict(xt), 1e-6)
    with pytest.raises(ValueError, match="training points"):
        est.predict(xt, return_std=True)


def test_classifier_regresses_centred_one_hot(data):
    x, _, xt = data
    labels = np.array(["cat", "dog", "emu"])[np.arange(60) % 3]
    clf = NTKClassifier(depth=2, ridge=1e-3).fit(x, labels)
    k = ntkfast.InfiniteWidthKernel(depth=2)
    targets = np.eye(3)[np.arange(60) % 3] - 1 / 3
    want = ntkfast.kernel_gd_mse(k(x), targets, np.inf, k_test_train=k(xt, x), ridge=1e-3).f_test[0]
    _close(clf.decision_function(xt), want)
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    assert set(clf.predict(xt)) <= set(labels)
    assert not hasattr(clf, "predict_proba")
    binary = NTKClassifier(depth=2, ridge=1e-3).fit(x, labels == "dog")
    f = binary.decision_function(xt)
    assert f.shape == (17,)
    np.testing.assert_array_equal(binary.predict(xt), f > 0)


def test_fitted_models_pickle_and_clone(data):
    x, y, xt = data
    for est in (NTKRegressor(activation="gelu", solver="eigh", t=4.0).fit(x, y),
                NTKClassifier().fit(x, (y[:, 0] > 0).astype(int)),
                NTKRegressor(solver="nystrom", n_centers=30, ridge=1e-2, random_state=0).fit(x, y)):
        again = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(again.predict(xt), est.predict(xt))
        assert clone(est).get_params() == est.get_params()
        assert again.n_features_in_ == 5


def test_feature_names_in():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(np.random.default_rng(0).standard_normal((10, 3)), columns=["a", "b", "c"])
    est = NTKRegressor().fit(frame, np.arange(10.0))
    assert list(est.feature_names_in_) == ["a", "b", "c"]


def test_thread_count_changes_no_bit(data):
    x, y, xt = data
    one = NTKRegressor(n_threads=1).fit(x, y).predict(xt)
    two = NTKRegressor(n_threads=2).fit(x, y).predict(xt)
    np.testing.assert_array_equal(one, two)


def test_digits_cross_validation_accuracy():
    """load_digits, 5-fold stratified CV (shuffled, seed 0): relu depth 3 on pixels / 16."""
    x, y = load_digits(return_X_y=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    scores = cross_val_score(NTKClassifier(depth=3, ridge=1e-4), x / 16, y, cv=cv)
    assert scores.mean() >= 0.985, scores
