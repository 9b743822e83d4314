"""scikit-learn estimators on the engine: :class:`MLPClassifier` and :class:`MLPRegressor`.

Needs the optional extra (``pip install -e ".[sklearn]"``); ``import mlp`` never imports this module.
Every fit trains through :func:`mlp.train` (in memory); the fitted ``model_`` is the engine's
:class:`~mlp.model.Model`, so ``save`` writes the ``model.npz`` that ``mlp train`` writes, and
``load`` turns any such file (one ``mlp train`` wrote included) into a fitted estimator.

Rows are a table's cells for the engine: arrays of numbers, or pandas DataFrames whose text columns
become one-hot categories (``categorical``) and whose missing cells are imputed (``missing="impute"``)
by the model's own feature transform. Sample weights enter the loss as a weighted mean,
J = Σ_n w_n L_n / Σ_n w_n; ``class_weight`` multiplies them.
"""

import copy

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .api import load as load_model
from .api import train
from .config import read_config
from .data.datasets import from_arrays
from .data.table import Cells
from .errors import MlpError
from .training.experiment import build_experiment
from .training.trainer import Callback, Trainer

PROBABILISTIC = ("cross_entropy", "binary_cross_entropy")


def _cells(X, names):
    """Rows as the engine's cells: numbers (NaN where missing or text), text cells by column."""
    if hasattr(X, "dtypes"):  # a pandas DataFrame: its columns as they are
        numbers = np.full(X.shape, np.nan)
        text = {}
        for j in range(X.shape[1]):
            values = X.iloc[:, j].to_numpy(dtype=object)
            for row, value in enumerate(values):
                if value is None or (isinstance(value, float) and np.isnan(value)):
                    continue
                if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
                    text.setdefault(j, {})[row] = str(value)
                else:
                    numbers[row, j] = float(value)
        return Cells(numbers, [str(c) for c in X.columns], text, "X")
    return Cells(np.asarray(X, dtype=np.float64), names, {}, "X")


class _WarmStart(Callback):
    """Start training from earlier weights (``warm_start``)."""

    def __init__(self, state):
        self.state = state

    def on_train_begin(self, trainer):
        trainer.experiment.network.load_state_dict(self.state)


class _MLPEstimator(BaseEstimator):
    """What both estimators share: the parameters mirror the config (see the README)."""

    _task = ""
    _default_loss = ""

    def __init__(
        self,
        hidden=(256, 256),
        activation="relu",
        dropout=0.0,
        input_dropout=0.0,
        loss=None,
        delta=1.0,
        regularization="none",
        lam=0.0,
        l1_ratio=0.5,
        max_norm=None,
        optimizer="adam",
        lr=0.001,
        momentum=0.0,
        nesterov=False,
        schedule="constant",
        epochs=200,
        batch_size=200,
        early_stopping=False,
        patience=10,
        validation_fraction=0.1,
        standardize=True,
        dtype="float32",
        categorical="auto",
        missing="error",
        random_state=None,
        verbose=False,
        warm_start=False,
        config=None,
    ):
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.loss = loss
        self.delta = delta
        self.regularization = regularization
        self.lam = lam
        self.l1_ratio = l1_ratio
        self.max_norm = max_norm
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.schedule = schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.standardize = standardize
        self.dtype = dtype
        self.categorical = categorical
        self.missing = missing
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.config = config

    # ------------------------------------------------------------------ the config

    def _config(self):
        """The config: ``config`` (a file or a mapping), with every parameter set away from its
        default written over it (without ``config``, every parameter)."""
        raw = (
            {}
            if self.config is None
            else copy.deepcopy(self.config if isinstance(self.config, dict) else read_config(self.config))
        )
        defaults = type(self)().get_params()
        params = self.get_params()

        def put(section, key, value, param):
            if self.config is None or params[param] != defaults[param]:
                node = raw
                for part in section:
                    node = node.setdefault(part, {})
                node[key] = value

        put(("model",), "hidden", [int(w) for w in np.atleast_1d(self.hidden)], "hidden")
        for key in ("activation", "dropout", "input_dropout"):
            put(("model",), key, getattr(self, key), key)
        put(("loss",), "name", self.loss or self._default_loss, "loss")
        if self._task == "classification" and self.loss in ("squared", "absolute", "huber"):
            raw["loss"]["target_encoding"] = "one_hot"  # a regression loss on one-hot rows of the classes
        put(("loss",), "delta", self.delta, "delta")
        put(("regularization",), "name", self.regularization, "regularization")
        put(("regularization",), "lambda", self.lam, "lam")
        put(("regularization",), "l1_ratio", self.l1_ratio, "l1_ratio")
        put(("regularization",), "max_norm", self.max_norm, "max_norm")
        put(("optimizer",), "name", self.optimizer, "optimizer")
        for key in ("lr", "momentum", "nesterov"):
            put(("optimizer",), key, getattr(self, key), key)
        put(("optimizer", "schedule"), "name", self.schedule, "schedule")
        put(("training",), "epochs", self.epochs, "epochs")
        put(("training",), "batch_size", self.batch_size, "batch_size")
        put(("training",), "dtype", self.dtype, "dtype")
        put(
            ("training", "early_stopping"), "patience", self.patience if self.early_stopping else None, "early_stopping"
        )
        put(("data",), "validation_split", self.validation_fraction if self.early_stopping else 0.0, "early_stopping")
        put(("data",), "standardize", self.standardize, "standardize")
        put(("data",), "categorical", self.categorical, "categorical")
        put(("data",), "missing", self.missing, "missing")
        raw.setdefault("data", {}).update(task=self._task, test_split=0.0)
        raw["seed"] = 0 if self.random_state is None else int(np.random.RandomState(self.random_state).randint(2**31))
        raw.setdefault("name", type(self).__name__)
        return raw

    # ------------------------------------------------------------------ fitting

    def _validated(self, X, y="no_validation", reset=True):
        """``(X, y)`` checked as scikit-learn checks them (``y="no_validation"``: rows to predict)."""
        ensure = "allow-nan" if self.missing == "impute" else True
        if hasattr(X, "dtypes") and any(str(kind) in ("object", "category", "string", "str") for kind in X.dtypes):
            # text columns: the feature transform reads them; only names and widths are checked here
            validate_data(self, X, reset=reset, skip_check_array=True)
            if isinstance(y, str) and y == "no_validation":
                return X, None
            if y is None:
                validate_data(self, X, y, reset=reset, skip_check_array=True)  # raises: y is required
            return X, np.asarray(y)
        if isinstance(y, str) and y == "no_validation":
            return validate_data(self, X, reset=reset, ensure_all_finite=ensure), None
        return validate_data(
            self,
            X,
            y,
            reset=reset,
            ensure_all_finite=ensure,
            ensure_min_samples=2,
            multi_output=self._task == "regression",
            y_numeric=self._task == "regression",
        )

    def _names(self):
        names = getattr(self, "feature_names_in_", None)
        return [str(n) for n in names] if names is not None else [f"x{j}" for j in range(self.n_features_in_)]

    def _dataset(self, X, y, class_names):
        return from_arrays(_cells(X, self._names()), y, task=self._task, class_names=class_names)

    def _fit(self, X, y, sample_weight, class_names=None):
        callbacks = []
        if self.warm_start and hasattr(self, "model_"):
            callbacks.append(_WarmStart(self.model_.network.state_dict()))
        try:
            result = train(
                self._config(),
                data=self._dataset(X, y, class_names),
                sample_weight=sample_weight,
                callbacks=callbacks,
                quiet=not self.verbose,
            )
        except MlpError as exc:
            raise ValueError(str(exc)) from None
        self.model_ = result.model
        history = result.history
        self.n_iter_ = len(history)
        self.loss_curve_ = [record["train_loss"] for record in history]
        metric = "val_accuracy" if self._task == "classification" else "val_rmse"
        self.validation_scores_ = [record[metric] for record in history if record[metric] is not None]
        self.best_epoch_ = result.report["training"]["best_epoch"]
        self._partial = None
        return self

    def _partial_epoch(self, X, y, sample_weight, class_names=None):
        """One epoch of ``partial_fit``: the first call builds the experiment (its feature transform
        fitted on these rows), later ones train the same network on their own rows."""
        first = getattr(self, "_partial", None) is None
        try:
            if first:
                from .config import load_config

                config = self._config()
                config["data"]["validation_split"] = 0.0
                experiment = build_experiment(
                    load_config(config, data_given=True), self._dataset(X, y, class_names), sample_weight
                )
                self._partial = Trainer(experiment)
            else:
                self._partial.set_rows(_cells(X, self._names()), y, sample_weight)
            record = self._partial.run_epoch()
        except MlpError as exc:
            raise ValueError(str(exc)) from None
        self.model_ = self._partial.experiment.model()
        self.n_iter_ = 1 if first else self.n_iter_ + 1
        self.loss_curve_ = [*(getattr(self, "loss_curve_", []) if not first else []), record["train_loss"]]
        self.validation_scores_, self.best_epoch_ = [], self.n_iter_
        return self

    def _outputs(self, X):
        check_is_fitted(self, "model_")
        X, _ = self._validated(X, reset=False)
        try:
            return self.model_.outputs(_cells(X, None), "X")  # an array's columns by position
        except MlpError as exc:
            raise ValueError(str(exc)) from None

    def save(self, path):
        """Write the fitted model as the ``model.npz`` ``mlp train`` writes."""
        check_is_fitted(self, "model_")
        return self.model_.save(path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "impute"
        return tags


class MLPClassifier(ClassifierMixin, _MLPEstimator):
    """A multi-layer perceptron classifier trained by :func:`mlp.train` (scikit-learn's estimator API).

    Parameters beyond the shared ones: ``class_weight`` — ``None``, ``"balanced"`` or
    ``{class: weight}``, multiplying the sample weights.
    """

    _task = "classification"
    _default_loss = "cross_entropy"

    def __init__(
        self,
        hidden=(256, 256),
        activation="relu",
        dropout=0.0,
        input_dropout=0.0,
        loss=None,
        delta=1.0,
        regularization="none",
        lam=0.0,
        l1_ratio=0.5,
        max_norm=None,
        optimizer="adam",
        lr=0.001,
        momentum=0.0,
        nesterov=False,
        schedule="constant",
        epochs=200,
        batch_size=200,
        early_stopping=False,
        patience=10,
        validation_fraction=0.1,
        standardize=True,
        dtype="float32",
        categorical="auto",
        missing="error",
        class_weight=None,
        random_state=None,
        verbose=False,
        warm_start=False,
        config=None,
    ):
        super().__init__(
            hidden,
            activation,
            dropout,
            input_dropout,
            loss,
            delta,
            regularization,
            lam,
            l1_ratio,
            max_norm,
            optimizer,
            lr,
            momentum,
            nesterov,
            schedule,
            epochs,
            batch_size,
            early_stopping,
            patience,
            validation_fraction,
            standardize,
            dtype,
            categorical,
            missing,
            random_state,
            verbose,
            warm_start,
            config,
        )
        self.class_weight = class_weight

    def _weights(self, y, sample_weight):
        weights = _check_sample_weight(sample_weight, np.empty((len(y), 0)))
        if self.class_weight is not None:
            weights = weights * compute_sample_weight(self.class_weight, y)
        return weights if sample_weight is not None or self.class_weight is not None else None

    def fit(self, X, y, sample_weight=None):
        """Train on ``X`` (N, d) and class labels ``y`` (N,)."""
        X, y = self._validated(X, y)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"the target holds a single class ({self.classes_[0]!r}); a classifier needs 2")
        labels = np.searchsorted(self.classes_, y)
        return self._fit(X, labels, self._weights(y, sample_weight), [str(c) for c in self.classes_])

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``X``, ``y``; ``classes`` (every class to come) on the first call."""
        first = getattr(self, "_partial", None) is None
        X, y = self._validated(X, y, reset=first)
        check_classification_targets(y)
        if first:  # every class to come; without them, the ones this first batch has
            self.classes_ = np.unique(y if classes is None else classes)
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y holds classes {unknown.tolist()!r} not in classes {self.classes_.tolist()!r}")
        labels = np.searchsorted(self.classes_, y)
        return self._partial_epoch(X, labels, self._weights(y, sample_weight), [str(c) for c in self.classes_])

    def predict(self, X):
        """The most probable class of each row."""
        outputs = self._outputs(X)
        return self.classes_[self.model_.predict_from_outputs(outputs)]

    @available_if(lambda self: (self.loss or "cross_entropy") in PROBABILISTIC)
    def predict_proba(self, X):
        """Class probabilities (N, K), columns in the order of ``classes_``."""
        outputs = self._outputs(X)
        return self.model_.probabilities(outputs)

    def decision_function(self, X):
        """The network's scores: (N,) for two classes (positive: the second), else (N, K)."""
        outputs = self._outputs(X)
        if outputs.shape[1] == 1:
            return outputs[:, 0]
        return outputs[:, 1] - outputs[:, 0] if outputs.shape[1] == 2 else outputs

    @classmethod
    def load(cls, path):
        """A fitted estimator from a ``model.npz`` (or a run directory) of a classifier."""
        model = load_model(path)
        if model.task != "classification":
            raise ValueError(f"{path}: a {model.task} model, not a classifier")
        estimator = _from_model(cls, model)
        names = model.class_names
        estimator.classes_ = (
            np.array([int(n) for n in names]) if all(n.lstrip("-").isdigit() for n in names) else np.array(names)
        )
        return estimator


class MLPRegressor(RegressorMixin, _MLPEstimator):
    """A multi-layer perceptron regressor trained by :func:`mlp.train` (scikit-learn's estimator API)."""

    _task = "regression"
    _default_loss = "squared"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y, sample_weight=None):
        """Train on ``X`` (N, d) and targets ``y`` (N,) or (N, k)."""
        X, y = self._validated(X, y)
        y = np.asarray(y, dtype=np.float64)
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, np.empty((len(y), 0)))
        self._single_output = y.ndim == 1
        return self._fit(X, y, weights)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X``, ``y``."""
        first = getattr(self, "_partial", None) is None
        X, y = self._validated(X, y, reset=first)
        y = np.asarray(y, dtype=np.float64)
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, np.empty((len(y), 0)))
        if first:
            self._single_output = y.ndim == 1
        return self._partial_epoch(X, y, weights)

    def predict(self, X):
        """Predicted values in the target's units: (N,) for one target, else (N, k)."""
        outputs = self._outputs(X)
        values = self.model_.predict_from_outputs(outputs)
        return values[:, 0] if self._single_output else values

    @classmethod
    def load(cls, path):
        """A fitted estimator from a ``model.npz`` (or a run directory) of a regression model."""
        model = load_model(path)
        if model.task != "regression":
            raise ValueError(f"{path}: a {model.task} model, not a regressor")
        estimator = _from_model(cls, model)
        estimator._single_output = model.architecture.n_outputs == 1
        return estimator


def _from_model(cls, model):
    config = model.config
    estimator = cls(config=config.to_dict(), hidden=tuple(config.model.hidden), activation=config.model.activation)
    estimator.model_ = model
    estimator.n_features_in_ = len(model.transform.input_columns)
    estimator.n_iter_ = None
    estimator.loss_curve_, estimator.validation_scores_, estimator.best_epoch_ = [], [], None
    estimator._partial = None
    return estimator
