"""mlp on the raw tables against scikit-learn's usual pipeline, same rows, same seeds.

    python scripts/compare_tabular.py [--seeds 5]      (needs scikit-learn: pip install -e ".[bench]")

For each shipped raw table (``configs/penguins.yaml``, ``configs/cars.yaml``) and each seed, mlp
trains its config (``seed`` set) and scikit-learn trains
``Pipeline(ColumnTransformer(SimpleImputer → StandardScaler | SimpleImputer → OneHotEncoder),
MLPClassifier/MLPRegressor)`` on the same training and validation rows (mlp's seeded split), with
the config's architecture, activation, Adam learning rate, batch size, epochs and patience, and
early stopping on a validation share of the same size. Both are scored on mlp's held-out test rows:
accuracy, or RMSE in the target's units. Prints a Markdown table of the mean and spread.
"""

import argparse
import statistics
import warnings
from pathlib import Path

import numpy as np

import mlp
from mlp.config import load_config
from mlp.data.encoding import cell_text
from mlp.training.experiment import describe

ROOT = Path(__file__).resolve().parent.parent


def raw_columns(cells, plans):
    """An object array of the input columns: floats for numeric ones, text (None if missing) otherwise."""
    position = {name: j for j, name in enumerate(cells.names)}
    columns = []
    for plan in plans:
        j = position[plan.name]
        if plan.kind == "numeric":
            columns.append(cells.X[:, j].astype(object))
        else:
            columns.append(np.array([cell_text(cells, j, row) for row in range(len(cells))], dtype=object))
    return np.stack(columns, axis=1)


def sklearn_pipeline(config, plans, task, validation_share, seed):
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [k for k, plan in enumerate(plans) if plan.kind == "numeric"]
    categorical = [k for k, plan in enumerate(plans) if plan.kind == "categorical"]
    prepare = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy=config.data.impute.numeric), StandardScaler()), numeric),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent", missing_values=None), OneHotEncoder(handle_unknown="ignore")
                ),
                categorical,
            ),
        ]
    )
    training = config.training
    network = dict(
        hidden_layer_sizes=tuple(config.model.hidden),
        activation=config.model.activation,
        solver="adam",
        learning_rate_init=config.optimizer.lr,
        batch_size=training.batch_size,
        max_iter=training.epochs,
        alpha=0.0,
        early_stopping=True,
        validation_fraction=validation_share,
        n_iter_no_change=training.early_stopping.patience,
        random_state=seed,
    )
    if task == "classification":
        return Pipeline([("prepare", prepare), ("mlp", MLPClassifier(**network))])
    return Pipeline(
        [
            ("prepare", prepare),
            ("mlp", TransformedTargetRegressor(MLPRegressor(**network), transformer=StandardScaler())),
        ]
    )


def one_seed(name, seed):
    config = load_config(ROOT / "configs" / f"{name}.yaml", [f"seed={seed}"])
    result = mlp.train(config)
    dataset, rows, transform, _ = describe(config)
    plans = transform.encoding.columns
    X = raw_columns(dataset.X, plans)
    fit_rows = np.concatenate([rows.train, rows.val])
    pipeline = sklearn_pipeline(config, plans, dataset.task, len(rows.val) / len(fit_rows), seed)
    y = dataset.y if dataset.task == "classification" else dataset.y[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(X[fit_rows], y[fit_rows])
        predicted = pipeline.predict(X[rows.test])
    if dataset.task == "classification":
        return result.report["metrics"]["accuracy"], float(np.mean(predicted == y[rows.test]))
    return result.report["metrics"]["rmse"], float(np.sqrt(np.mean((predicted - y[rows.test]) ** 2)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print("| table | metric (test rows) | mlp | scikit-learn pipeline | per seed (mlp / scikit-learn) |")
    print("| --- | --- | --- | --- | --- |")
    for name, metric in (("penguins", "accuracy"), ("cars", "RMSE (mpg)")):
        scores = [one_seed(name, seed) for seed in range(args.seeds)]
        ours, theirs = ([s[k] for s in scores] for k in (0, 1))
        per_seed = ", ".join(f"{a:.3f}/{b:.3f}" for a, b in scores)
        print(
            f"| {name} | {metric} | {statistics.mean(ours):.3f} ± {statistics.stdev(ours):.3f} | "
            f"{statistics.mean(theirs):.3f} ± {statistics.stdev(theirs):.3f} | {per_seed} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
