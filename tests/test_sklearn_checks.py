"""scikit-learn's own estimator checks (parametrize_with_checks) on NTKRegressor and
NTKClassifier. No check is skipped: see SKIPPED for the (empty) list and why it is kept."""
from __future__ import annotations

import inspect

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from ntkfast.sklearn import NTKClassifier, NTKRegressor  # noqa: E402

# Checks we must skip, with the reason (scikit-learn's expected_failed_checks hook, >= 1.6).
# Empty: every check passes. Kept as the one place to record a skip should a future scikit-learn
# add a check that does not apply (e.g. one assuming predict_proba, which NTKClassifier lacks on
# purpose). The checks that need pandas (feature names) or SCIPY_ARRAY_API skip themselves when
# those are absent.
SKIPPED: dict = {}

_HOOK = ({"expected_failed_checks": lambda est: SKIPPED}
         if "expected_failed_checks" in inspect.signature(parametrize_with_checks).parameters else {})


@parametrize_with_checks([NTKRegressor(), NTKClassifier()], **_HOOK)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
