"""The estimators in scikit-learn's ecosystem, and against the engine and the command line."""

import json
import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

from sklearn.base import clone  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import mlp  # noqa: E402
from helpers import npz_arrays, run, write_config  # noqa: E402
from mlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

SMALL = {"hidden": (16,), "epochs": 15, "lr": 0.01, "random_state": 0}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def test_params_round_trip_and_clone():
    estimator = MLPClassifier(hidden=(8, 4), loss="multiclass_hinge", class_weight="balanced", lam=1e-3)
    params = estimator.get_params()
    assert params["hidden"] == (8, 4) and params["class_weight"] == "balanced"
    copy = clone(estimator)
    assert copy.get_params() == params and copy is not estimator
    copy.set_params(hidden=(32,), lr=0.05)
    assert copy.get_params()["hidden"] == (32,) and estimator.get_params()["hidden"] == (8, 4)


def test_grid_search_in_a_pipeline_with_two_jobs(digits):
    X, y = digits
    pipeline = Pipeline([("scale", StandardScaler()), ("mlp", MLPClassifier(**SMALL, standardize=False))])
    search = GridSearchCV(pipeline, {"mlp__hidden": [(8,), (32,)], "mlp__lr": [0.01, 0.03]}, cv=3, n_jobs=2)
    search.fit(X, y)
    assert set(search.best_params_) == {"mlp__hidden", "mlp__lr"} and search.best_score_ > 0.8
    assert len(search.cv_results_["mean_test_score"]) == 4


def test_cross_validation_calibration_and_pickling(digits):
    X, y = digits
    scores = cross_val_score(MLPClassifier(**SMALL), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.75
    calibrated = CalibratedClassifierCV(MLPClassifier(**SMALL), cv=3).fit(X, y)
    probabilities = calibrated.predict_proba(X[:5])
    assert probabilities.shape == (5, 10) and np.allclose(probabilities.sum(axis=1), 1)
    fitted = MLPClassifier(**SMALL).fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(restored.predict_proba(X), fitted.predict_proba(X))


def test_fitted_attributes_and_early_stopping(digits):
    X, y = digits
    estimator = MLPClassifier(
        hidden=(64,), lr=0.05, epochs=300, early_stopping=True, patience=3, validation_fraction=0.2, random_state=0
    ).fit(X, y)
    assert estimator.n_features_in_ == 64 and list(estimator.classes_) == list(range(10))
    assert estimator.n_iter_ == len(estimator.loss_curve_) == len(estimator.validation_scores_)
    assert 1 <= estimator.best_epoch_ <= estimator.n_iter_ < 300  # stopped early
    assert isinstance(estimator.model_, mlp.Model)


def test_strings_missing_cells_and_feature_names_from_a_dataframe():
    rng = np.random.default_rng(0)
    n = 120
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    size = rng.uniform(0, 10, n)
    y = np.where((size > 5) | (colour == "red"), "yes", "no")
    colour[::11] = None
    size[::13] = np.nan
    frame = pd.DataFrame({"colour": colour, "size": size})
    estimator = MLPClassifier(**{**SMALL, "epochs": 80}, missing="impute").fit(frame, y)
    assert list(estimator.feature_names_in_) == ["colour", "size"]
    assert estimator.model_.feature_names == ["size", "colour=blue", "colour=green", "colour=red"]
    assert estimator.score(frame, y) > 0.8
    reordered = frame[["size", "colour"]]
    with pytest.raises(ValueError, match="feature names"):
        estimator.predict(reordered)  # scikit-learn's rule: the columns in the order fitted


def test_sample_weight_and_class_weight_reweight_the_loss():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 2))
    y = (X[:, 0] + 0.6 * rng.standard_normal(300) > 0.8).astype(int)  # few positives
    plain = MLPClassifier(**{**SMALL, "epochs": 40}).fit(X, y)
    balanced = MLPClassifier(**{**SMALL, "epochs": 40}, class_weight="balanced").fit(X, y)
    weighted = MLPClassifier(**{**SMALL, "epochs": 40}).fit(X, y, sample_weight=np.where(y == 1, 5.0, 1.0))
    recall = {
        name: np.mean(model.predict(X[y == 1]) == 1)
        for name, model in (("plain", plain), ("balanced", balanced), ("weighted", weighted))
    }
    assert recall["balanced"] > recall["plain"] and recall["weighted"] > recall["plain"]


def test_partial_fit_and_warm_start(digits):
    X, y = digits
    estimator = MLPClassifier(**SMALL)
    for _ in range(5):
        estimator.partial_fit(X[:300], y[:300], classes=np.arange(10))
    assert estimator.n_iter_ == 5 and len(estimator.loss_curve_) == 5
    assert estimator.loss_curve_[-1] < estimator.loss_curve_[0]
    warm = MLPClassifier(**{**SMALL, "epochs": 2}, warm_start=True).fit(X, y)
    first = warm.model_.network.state_dict()["0.W"].copy()
    warm.fit(X, y)
    cold = MLPClassifier(**{**SMALL, "epochs": 2}).fit(X, y)
    assert not np.array_equal(warm.model_.network.state_dict()["0.W"], cold.model_.network.state_dict()["0.W"])
    assert not np.array_equal(warm.model_.network.state_dict()["0.W"], first)


def test_regressor_and_the_shared_model_file(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (200, 3))
    y = X @ [2.0, -1.0, 0.5] + 3
    regressor = MLPRegressor(**{**SMALL, "epochs": 100}).fit(X, y)
    assert regressor.score(X, y) > 0.9 and regressor.predict(X[:4]).shape == (4,)
    path = regressor.save(tmp_path / "model.npz")
    again = MLPRegressor.load(path)
    assert np.array_equal(again.predict(X), regressor.predict(X))
    assert run("predict", path, _npz(tmp_path, X)).exit_code == 0  # the command reads the estimator's file


def _npz(tmp_path, X):
    np.savez(tmp_path / "rows.npz", X=X)
    return tmp_path / "rows.npz"


def test_a_model_trained_by_the_command_serves_as_an_estimator(tmp_path, digits_config):
    out = tmp_path / "run"
    assert run("train", digits_config, "--out", out, "--quiet").exit_code == 0
    estimator = MLPClassifier.load(out)
    X, y = load_digits(return_X_y=True)
    assert list(estimator.classes_) == list(range(10))
    report = json.loads((out / "report.json").read_text())
    assert estimator.score(X, y) > report["metrics"]["accuracy"] - 0.1


def test_the_estimator_and_the_command_train_the_same_weights(tmp_path, digits):
    X, y = digits
    data = tmp_path / "digits.csv"
    header = ",".join([f"x{j}" for j in range(64)] + ["label"])
    data.write_text(
        header + "\n" + "".join(",".join(map(repr, row.tolist())) + f",{label}\n" for row, label in zip(X, y))
    )
    estimator = MLPClassifier(**SMALL)
    config = estimator._config()
    config["data"] = {**config["data"], "path": str(data), "target": "label"}
    config_path = write_config(tmp_path / "c.yaml", json.dumps(config))
    assert run("train", config_path, "--out", tmp_path / "run", "--quiet").exit_code == 0
    estimator.fit(X, y)
    command = npz_arrays(tmp_path / "run" / "model.npz")
    for key, value in estimator.model_.network.state_dict().items():
        assert np.array_equal(value, command[key]), key


def test_import_mlp_never_imports_scikit_learn():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import sys, mlp; print('sklearn' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip() == "False"


@pytest.mark.parametrize("loss", ["squared", "absolute", "huber", "cross_entropy", "hinge", "multiclass_hinge"])
def test_every_loss_that_fits_a_classifier(loss):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    estimator = MLPClassifier(hidden=(16,), epochs=60, lr=0.01, loss=loss, random_state=0).fit(X, y)
    assert estimator.score(X, y) > 0.9 and estimator.decision_function(X[:2]).shape == (2, 3)
    assert hasattr(estimator, "predict_proba") == (loss == "cross_entropy")


def test_binary_cross_entropy_gives_probabilities_of_two_classes():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    estimator = MLPClassifier(hidden=(16,), epochs=30, lr=0.01, loss="binary_cross_entropy", random_state=0)
    estimator.fit(X, y)
    probabilities = estimator.predict_proba(X[:5])
    assert probabilities.shape == (5, 2) and np.allclose(probabilities.sum(axis=1), 1)
    assert estimator.decision_function(X[:5]).shape == (5,) and estimator.score(X, y) > 0.9
    with pytest.raises(ValueError, match="needs exactly 2 classes"):
        MLPClassifier(loss="binary_cross_entropy", epochs=1).fit(X[:30], np.arange(30) % 3)
