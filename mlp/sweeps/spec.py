"""The sweep file: a base config, the values to vary, and how to rank and prune the trials.

A sweep file is validated like a config, then expanded into its trials, each a complete config
that is validated before anything runs::

    base: configs/mnist.yaml          # a config file (relative to the current directory) or a mapping
    grid: {model.hidden: [[64], [128]], optimizer.lr: [0.01, 0.05]}    # every combination
    random: {n: 8, seed: 0, regularization.lambda: {log_uniform: [1.0e-6, 1.0e-3]}}
    repeats: 2                        # seeds per point: seed, seed + 1, ...
    metric: val_loss                  # ranks trials and drives pruning (min, or max for accuracy)
    pruning: {name: asha, min_epochs: 2, reduction: 3}

The trials are the grid's combinations × the ``n`` random samples (drawn once, with ``seed``, and
crossed with every grid point) × the repeats. A trial is named by a hash of its resolved config.
"""

import copy
import difflib
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import Config, config_key, load_config, read_config, set_key
from ..errors import ConfigError, shown
from ..nn.losses import CLASSIFICATION_LOSSES
from ..validation import check_choice, check_number

METRICS = {"val_loss": "min", "val_accuracy": "max", "val_rmse": "min", "train_loss": "min"}
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")
PRUNERS = ("none", "median", "asha")
TOP_KEYS = ("base", "grid", "random", "repeats", "metric", "pruning")


@dataclass(frozen=True)
class Pruning:
    """``none``; ``median`` (prune below the finished trials' median from ``min_epochs`` on, once
    ``min_trials`` have finished); ``asha`` (rungs at ``min_epochs`` × ``reduction``^k epochs)."""

    name: str = "none"
    min_epochs: int = 1
    reduction: int = 3
    min_trials: int = 3


@dataclass
class Trial:
    """One point of the sweep: its id (a hash of the config), the values set, and the config."""

    id: str
    index: int
    values: dict
    config: Config

    @property
    def epochs(self):
        return self.config.training.epochs


@dataclass
class Sweep:
    """A validated sweep: its trials in order, the ranking metric and the pruning rule."""

    name: str
    trials: list
    metric: str
    pruning: Pruning
    varied: list = field(default_factory=list)  # the dotted keys that take more than one value

    @property
    def maximize(self):
        return METRICS[self.metric] == "max"

    def better(self, a, b):
        """Whether metric value ``a`` beats ``b``."""
        return a > b if self.maximize else a < b


def trial_id(config: Config) -> str:
    """12 hex digits of the SHA-256 of the resolved config (a run directory's name)."""
    text = json.dumps(config.to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_sweep(path) -> Sweep:
    """The sweep in the YAML file ``path``, every trial's config validated; ``ConfigError`` names
    the file, the dotted key and the value at fault."""
    raw = read_config(path)
    try:
        return build_sweep(raw, Path(path).stem)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def build_sweep(raw: dict, name: str) -> Sweep:
    """A :class:`Sweep` from the mapping of a sweep file (``name``: the sweep's, for its folder)."""
    for key in raw:
        if key not in TOP_KEYS:
            hint = difflib.get_close_matches(str(key), TOP_KEYS, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"unknown key {shown(key)}{suggestion}; a sweep file has {', '.join(TOP_KEYS)}")
    base = _base(raw.get("base"))
    grid = _grid(raw.get("grid") or {})
    samples = _samples(raw.get("random"))
    repeats = check_number("repeats", raw.get("repeats", 1), 1, integer=True)
    metric = check_choice("metric", raw.get("metric", "val_loss"), tuple(METRICS))
    pruning = _pruning(raw.get("pruning"))
    keys = [*grid, *(samples[0] if samples else {})]
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    trials: list[Trial] = []
    seen: dict[str, Trial] = {}
    for point in points:
        for sample in samples or [{}]:
            values = {**point, **sample}
            for repeat in range(repeats):
                config = _trial_config(base, values, repeat)
                _check_metric(metric, config)
                trial = Trial(trial_id(config), len(trials), {**values, "seed": config.seed}, config)
                if trial.id not in seen:
                    seen[trial.id] = trial
                    trials.append(trial)
    varied = [k for k in [*keys, "seed"] if len({json.dumps(t.values.get(k)) for t in trials}) > 1]
    return Sweep(name, trials, metric, pruning, varied)


def _check_metric(metric, config):
    if metric.startswith("val_") and config.data.validation_split == 0:
        raise ConfigError(f"metric: {metric} needs validation rows, and data.validation_split is 0")
    classifier = config.loss.name in CLASSIFICATION_LOSSES
    if metric == "val_accuracy" and not classifier:
        raise ConfigError(f"metric: val_accuracy needs a classification loss, and loss.name is {config.loss.name}")
    if metric == "val_rmse" and classifier:
        raise ConfigError(f"metric: val_rmse needs a regression loss, and loss.name is {config.loss.name}")


def _base(value):
    if isinstance(value, str):
        return read_config(value)
    if isinstance(value, dict):
        return copy.deepcopy(value)
    raise ConfigError(f"base: must be a config file's path or a config mapping, got {shown(value)}")


def _keyed(section, mapping):
    if not isinstance(mapping, dict):
        raise ConfigError(f"{section}: must be a mapping of dotted config keys, got {shown(mapping)}")
    for key in mapping:
        try:
            config_key(str(key))
        except ConfigError as exc:
            raise ConfigError(f"{section}.{key}: {exc}") from None
        if key == "name":
            raise ConfigError(f"{section}.name: trials are named by their config's hash; vary another key")


def _grid(grid):
    _keyed("grid", grid)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{key}: must be a non-empty list of values, got {shown(values)}")
    return grid


def _samples(spec):
    """``n`` dicts of drawn values, from a generator seeded with ``seed`` (keys in file order)."""
    if spec is None:
        return []
    if not isinstance(spec, dict):
        raise ConfigError(f"random: must be a mapping with n and dotted config keys, got {shown(spec)}")
    spec = dict(spec)
    n = check_number("random.n", spec.pop("n", None), 1, integer=True)
    rng = np.random.default_rng(check_number("random.seed", spec.pop("seed", 0), 0, integer=True))
    _keyed("random", spec)
    draws = {key: _distribution(f"random.{key}", value) for key, value in spec.items()}
    return [{key: draw(rng) for key, draw in draws.items()} for _ in range(n)]


def _distribution(where, value):
    """A function drawing one value with a generator, from ``{kind: arguments}``."""
    if not isinstance(value, dict) or len(value) != 1:
        raise ConfigError(
            f"{where}: must be one distribution such as {{uniform: [0, 1]}}; "
            f"kinds: {', '.join(DISTRIBUTIONS)}; got {shown(value)}"
        )
    ((kind, arguments),) = value.items()
    kind = check_choice(where, kind, DISTRIBUTIONS)
    if kind == "choice":
        if not isinstance(arguments, list) or not arguments:
            raise ConfigError(f"{where}: choice needs a non-empty list of values, got {shown(arguments)}")
        return lambda rng: copy.deepcopy(arguments[int(rng.integers(len(arguments)))])
    if not isinstance(arguments, list) or len(arguments) != 2:
        raise ConfigError(f"{where}: {kind} needs [low, high], got {shown(arguments)}")
    integer = kind == "int_uniform"
    bound = 0 if kind == "log_uniform" else None
    low, high = (
        check_number(f"{where}.{kind}", a, bound, low_open=bound is not None, integer=integer) for a in arguments
    )
    if not low < high:
        raise ConfigError(f"{where}: {kind} needs low < high, got {shown(arguments)}")
    if kind == "uniform":
        return lambda rng: float(rng.uniform(low, high))
    if kind == "int_uniform":  # both ends included
        return lambda rng: int(rng.integers(low, high + 1))
    return lambda rng: float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _pruning(spec):
    if spec is None:
        return Pruning()
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"pruning: must be none, median, asha or a mapping with name, got {shown(spec)}")
    allowed = {"name", "min_epochs", "reduction", "min_trials"}
    for key in spec:
        if key not in allowed:
            raise ConfigError(f"pruning.{key}: unknown key; pruning takes {', '.join(sorted(allowed))}")
    return Pruning(
        check_choice("pruning.name", spec.get("name", "none"), PRUNERS),
        check_number("pruning.min_epochs", spec.get("min_epochs", 1), 1, integer=True),
        check_number("pruning.reduction", spec.get("reduction", 3), 2, integer=True),
        check_number("pruning.min_trials", spec.get("min_trials", 3), 1, integer=True),
    )


def _trial_config(base, values, repeat):
    raw = copy.deepcopy(base)
    for key, value in values.items():
        set_key(raw, config_key(key), copy.deepcopy(value))
    point = ", ".join(f"{key}={shown(value)}" for key, value in values.items())
    try:
        config = load_config(raw)
    except ConfigError as exc:
        message = str(exc).removeprefix("config: ")
        raise ConfigError(f"the trial {point or 'of the base config'}: {message}") from None
    config.seed += repeat
    return config
