"""scikit-learn's own estimator checks over both estimators (small epochs so they run fast)."""

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from mlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

WEIGHTS_ARE_NOT_REPEATS = (
    "sample weights reweight each minibatch's mean (J = Σ w L / Σ w over the batch); repeating a row instead "
    "changes how many batches an epoch has and what they hold, so the two fits differ by stochastic-gradient "
    "noise (they agree in expectation, not to the checked tolerance)"
)
EXPECTED_FAILURES = {
    name: {"check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_REPEATS}
    for name in ("MLPClassifier", "MLPRegressor")
}


def expected(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [
        MLPClassifier(hidden=(16,), epochs=30, lr=0.01, random_state=0),
        MLPRegressor(hidden=(16,), epochs=30, lr=0.01, random_state=0),
    ],
    expected_failed_checks=expected,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
