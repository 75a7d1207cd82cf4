"""scikit-learn's own estimator checks (parametrize_with_checks) on NTKRegressor and
NTKClassifier. No check is skipped: see SKIPPED for the (empty) list and why it is kept."""
from __future__ import annotations

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from ntkfast.sklearn import NTKClassifier, NTKRegressor  # noqa: E402

# Checks we must skip, with the reason (scikit-learn's expected_failed_checks hook). Empty: every
# check passes. Kept as the one place to record a skip should a future scikit-learn add a check
# that does not apply (e.g. one that assumes predict_proba, which NTKClassifier deliberately lacks).
SKIPPED: dict = {}


@parametrize_with_checks([NTKRegressor(), NTKClassifier()],
                         expected_failed_checks=lambda est: SKIPPED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
