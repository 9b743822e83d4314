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
ONE_ROW_IS_A_GEMV = (
    "the network computes in float32, and BLAS takes a different kernel for the one-output last layer of a "
    "single row than of a batch of rows (they sum in different orders), so a row predicted alone differs from "
    "the same row in a batch by float32 rounding (measured 1.2e-7 on outputs near 1; the first layer agrees "
    "exactly), at the check's atol=1e-7: it passes or fails with the trained weights' luck"
)
EXPECTED_FAILURES = {
    "MLPClassifier": {"check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_REPEATS},
    "MLPRegressor": {
        "check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_REPEATS,
        "check_methods_subset_invariance": ONE_ROW_IS_A_GEMV,
    },
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
