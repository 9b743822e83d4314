"""mlp.sklearn's estimators against scikit-learn's own MLP: held-out scores and fit time, side by side.

    python scripts/compare_sklearn.py [--seeds 5]      (needs: pip install -e ".[sklearn]")

On digits, breast cancer and diabetes (scikit-learn's copies), for each seed: a stratified (for
classification) 75/25 split drawn with the seed; both estimators get the same architecture (one
hidden layer of 64 ReLU units), Adam at lr 0.001, batch 64, 100 epochs, no penalty, no early
stopping, the seed as random_state; features standardized (mlp by its own transform, scikit-learn
by a StandardScaler in a pipeline), regression targets too (mlp by its own, scikit-learn by a
TransformedTargetRegressor). Fit times are measured in the same process, alternating the two, and
their ratio is taken seed by seed (median). Prints a Markdown table.
"""

import argparse
import statistics
import time
import warnings

from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlp.sklearn import MLPClassifier, MLPRegressor

SETTINGS = {"epochs": 100, "batch_size": 64, "lr": 0.001}
DATA = {"digits": load_digits, "breast cancer": load_breast_cancer, "diabetes": load_diabetes}


def contenders(name, seed):
    classification = name != "diabetes"
    ours = (MLPClassifier if classification else MLPRegressor)(
        hidden=(64,), optimizer="adam", random_state=seed, **SETTINGS
    )
    sk_model = (SkClassifier if classification else SkRegressor)(
        hidden_layer_sizes=(64,),
        solver="adam",
        learning_rate_init=SETTINGS["lr"],
        batch_size=SETTINGS["batch_size"],
        max_iter=SETTINGS["epochs"],
        alpha=0.0,
        n_iter_no_change=SETTINGS["epochs"] + 1,
        tol=0.0,
        random_state=seed,
    )
    theirs = make_pipeline(
        StandardScaler(),
        sk_model if classification else TransformedTargetRegressor(sk_model, transformer=StandardScaler()),
    )
    return ours, theirs


def timed_fit(model, X, y):
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(
        "| data | score (held out) | mlp.sklearn | scikit-learn | fit time mlp / scikit-learn (median ratio; medians) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, load in DATA.items():
        X, y = load(return_X_y=True)
        scores, times = {"ours": [], "theirs": []}, {"ours": [], "theirs": []}
        for seed in range(args.seeds):
            stratify = y if name != "diabetes" else None
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=0.25, random_state=seed, stratify=stratify
            )
            ours, theirs = contenders(name, seed)
            for key, model in (("ours", ours), ("theirs", theirs)):
                times[key].append(timed_fit(model, X_train, y_train))
                scores[key].append(model.score(X_test, y_test))
        ratio = statistics.median(a / b for a, b in zip(times["ours"], times["theirs"]))
        metric = "accuracy" if name != "diabetes" else "R²"
        cells = [f"{statistics.mean(scores[k]):.3f} ± {statistics.stdev(scores[k]):.3f}" for k in ("ours", "theirs")]
        print(
            f"| {name} | {metric} | {cells[0]} | {cells[1]} | {ratio:.2f} ({statistics.median(times['ours']):.2f} s / "
            f"{statistics.median(times['theirs']):.2f} s) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
