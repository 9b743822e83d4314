"""Experiment configs: YAML read with ``yaml.safe_load``, checked against a schema, defaults filled.

Every problem is reported before any training starts, as :class:`~mlp.errors.ConfigError` naming
the dotted key path: unknown keys (with a suggestion), duplicate keys, wrong types, out-of-range
values, unknown names (with the valid ones). Numbers written as ``1e-3`` (a string to YAML 1.1) are
read as numbers. Names resolve through the registries only, so a config can never name code.
"""
import copy
import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .datasets import BUILTIN
from .errors import ConfigError, DataError, shown
from .files import regular_file
from .initializers import INITIALIZERS
from .layers import ACTIVATIONS
from .losses import CLASSIFICATION_LOSSES, LOSSES, REGRESSION_LOSSES
from .optim import OPTIMIZERS
from .regularizers import REGULARIZERS
from .schedules import SCHEDULES

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Field:
    """One leaf of the schema: its kind, default and constraints.

    ``kind``: ``"int"``, ``"float"``, ``"bool"``, ``"str"``, ``"name"`` (one of ``choices``),
    ``"path"`` (a string, or a list of two for an IDX pair), ``"widths"`` (list of ints >= 1),
    ``"pair"`` (two floats in [0, 1)).
    """

    kind: str
    default: object = None
    nullable: bool = False
    low: float = None
    high: float = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    doc: str = ""


def _range(low=None, high=None, low_open=False, high_open=False):
    return {"low": low, "high": high, "low_open": low_open, "high_open": high_open}


SCHEMA = {
    "name": Field("str", None, nullable=True, doc="run name (default: the config file's stem)"),
    "seed": Field("int", 0, **_range(0), doc="one seed for init, split, shuffle and dropout streams"),
    "data": {
        "name": Field("name", None, nullable=True, choices=tuple(BUILTIN), doc="built-in data set"),
        "path": Field("path", None, nullable=True, doc="CSV, NPZ, or [images, labels] IDX pair"),
        "test_path": Field("path", None, nullable=True, doc="a held-out file of the same kind"),
        "target": Field("str", None, nullable=True, doc="CSV target column (default: last)"),
        "task": Field("name", "auto", choices=("auto", "classification", "regression")),
        "validation_split": Field("float", 0.1, **_range(0, 1, high_open=True)),
        "test_split": Field("float", 0.2, **_range(0, 1, high_open=True)),
        "standardize": Field("bool", None, nullable=True, doc="default: true for tabular data"),
        "standardize_target": Field("bool", True, doc="regression: train on standardized targets"),
        "corrupt_targets": Field("float", 0.0, **_range(0, 1, high_open=True),
                                 doc="regression: share of non-test targets shifted by ±10 std"),
    },
    "model": {
        "hidden": Field("widths", [256, 256]),
        "activation": Field("name", "relu", choices=tuple(ACTIVATIONS)),
        "dropout": Field("float", 0.0, **_range(0, 1, high_open=True), doc="after each hidden activation"),
        "input_dropout": Field("float", 0.0, **_range(0, 1, high_open=True), doc="on the input features"),
        "init": Field("name", "he", choices=tuple(INITIALIZERS)),
        "init_from": Field("str", None, nullable=True, doc=".npz state dict to start from"),
    },
    "loss": {
        "name": Field("name", "cross_entropy", choices=tuple(LOSSES)),
        "delta": Field("float", 1.0, **_range(0, low_open=True), doc="huber/hinge δ; multiclass_hinge margin"),
        "target_encoding": Field("name", None, nullable=True, choices=("one_hot", "plus_minus_one"),
                                 doc="lets a regression loss train on class labels"),
    },
    "regularization": {
        "name": Field("name", "none", choices=tuple(REGULARIZERS)),
        "lambda": Field("float", 0.0, **_range(0)),
        "l1_ratio": Field("float", 0.5, **_range(0, 1)),
        "max_norm": Field("float", None, nullable=True, **_range(0, low_open=True),
                          doc="after each step, rescale every unit's incoming weights to L2 norm <= this"),
    },
    "optimizer": {
        "name": Field("name", "sgd", choices=tuple(OPTIMIZERS)),
        "lr": Field("float", 0.01, **_range(0, low_open=True)),
        "momentum": Field("float", 0.0, **_range(0, 1, high_open=True), doc="sgd, rmsprop"),
        "nesterov": Field("bool", False, doc="sgd"),
        "betas": Field("pair", [0.9, 0.999], doc="adam, adamw"),
        "eps": Field("float", 1e-8, **_range(0, low_open=True), doc="adam, adamw, rmsprop"),
        "weight_decay": Field("float", 0.01, **_range(0), doc="adamw (decoupled)"),
        "alpha": Field("float", 0.99, **_range(0, 1, high_open=True), doc="rmsprop"),
        "schedule": {
            "name": Field("name", "constant", choices=tuple(SCHEDULES)),
            "step_size": Field("int", 10, **_range(1)),
            "gamma": Field("float", 0.1, **_range(0, 1, low_open=True)),
            "min_lr": Field("float", 0.0, **_range(0)),
            "warmup_epochs": Field("int", 0, **_range(0)),
        },
    },
    "training": {
        "epochs": Field("int", 20, **_range(1)),
        "batch_size": Field("int", 128, **_range(1)),
        "shuffle": Field("bool", True),
        "dtype": Field("name", "float32", choices=("float32", "float64")),
        "clip_grad_norm": Field("float", None, nullable=True, **_range(0, low_open=True),
                                doc="rescale the gradient vector to at most this L2 norm"),
        "checkpoint_seconds": Field("float", 600.0, nullable=True, **_range(0, low_open=True),
                                    doc="also save last.npz inside an epoch once this long has passed "
                                        "since the last save (null: at epoch ends only)"),
        "early_stopping": {
            "patience": Field("int", 5, nullable=True, **_range(1), doc="null: never stop early"),
            "min_delta": Field("float", 0.0, **_range(0)),
            "monitor": Field("name", "val_loss", choices=("val_loss", "val_accuracy", "val_rmse")),
        },
    },
}

OPTIMIZER_KEYS = {
    "sgd": ("momentum", "nesterov"),
    "adam": ("betas", "eps"),
    "adamw": ("betas", "eps", "weight_decay"),
    "rmsprop": ("alpha", "eps", "momentum"),
}
SCHEDULE_KEYS = {"constant": (), "step": ("step_size", "gamma"), "exponential": ("gamma",), "cosine": ("min_lr",)}
# What must match for ``--resume``: the data, the network, the loss and the optimizer's state layout.
STRUCTURAL = ("seed", "data", "model", "loss", "regularization", "optimizer.name", "training.dtype",
              "training.batch_size", "training.shuffle")


# --------------------------------------------------------------------------------------------


def _duplicates(node, path="", seen=None):
    """Raise on a mapping that repeats a key, anywhere in a composed YAML node tree.

    Each node is visited once, so aliases cannot blow the walk up exponentially.
    """
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    f"{path or 'config'}: a key must be a plain name, not a "
                    f"{'list' if isinstance(key_node, yaml.SequenceNode) else 'mapping'} "
                    f"(line {key_node.start_mark.line + 1})"
                )
            key = key_node.value
            where = f"{path}.{key}" if path else str(key)
            if key in keys:
                raise ConfigError(
                    f"duplicate key {where!r} (lines {keys[key] + 1} and {key_node.start_mark.line + 1})"
                )
            keys[key] = key_node.start_mark.line
            _duplicates(value_node, where, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _duplicates(item, path, seen)


def parse_yaml(text, source):
    """``yaml.safe_load`` of ``text``, after a duplicate-key check on the composed node tree."""
    try:
        _duplicates(yaml.compose(text, Loader=yaml.SafeLoader))
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}".replace("\n", " ")) from None
    except RecursionError:
        raise ConfigError(f"{source}: YAML nested too deeply") from None


def read_config(path):
    """The raw mapping in a YAML config file."""
    path = regular_file(path, ConfigError, "config file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    raw = parse_yaml(text, path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys, got {type(raw).__name__}")
    return raw


def apply_overrides(raw, overrides):
    """Apply ``key.path=value`` strings (values parsed as YAML) to ``raw``; unknown paths fail."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key.path=value, got {item!r}")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node = SCHEMA
        for depth, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(parts[:depth + 1])
                options = list(node) if isinstance(node, dict) else []
                hint = difflib.get_close_matches(part, options, n=1)
                suggestion = f" (did you mean {'.'.join(parts[:depth] + hint)!r}?)" if hint else ""
                raise ConfigError(f"--set {key}: no such config key {where!r}{suggestion}")
            node = node[part]
        value = parse_yaml(text, f"--set {key}")
        target = raw
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[parts[-1]] = value
    return raw


def _fail(path, message, value):
    raise ConfigError(f"{path}: {message}, got {shown(value)}")


def _check_number(field, path, value):
    original = value
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(path, "must be a number", value)
    if not math.isfinite(value):
        _fail(path, "must be a finite number", original)
    if field.kind == "int":
        if isinstance(value, float):
            if not value.is_integer():
                _fail(path, "must be an integer", value)
            value = int(value)
    else:
        value = float(value)
    low_ok = field.low is None or (value > field.low if field.low_open else value >= field.low)
    high_ok = field.high is None or (value < field.high if field.high_open else value <= field.high)
    if not (low_ok and high_ok):
        parts = []
        if field.low is not None:
            parts.append(f"{'>' if field.low_open else '>='} {field.low:g}")
        if field.high is not None:
            parts.append(f"{'<' if field.high_open else '<='} {field.high:g}")
        _fail(path, f"must be {' and '.join(parts)}", original)
    return value


def _check_field(field, path, value):
    if value is None:
        if field.nullable:
            return None
        _fail(path, "must be set (null is not allowed)", value)
    kind = field.kind
    if kind in ("int", "float"):
        return _check_number(field, path, value)
    if kind == "bool":
        if not isinstance(value, bool):
            _fail(path, "must be true or false", value)
        return value
    if kind == "str":
        if not isinstance(value, str):
            _fail(path, "must be a string", value)
        return value
    if kind == "name":
        if value not in field.choices:
            hint = difflib.get_close_matches(str(value), field.choices, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            _fail(path, f"unknown name{suggestion}; valid names: {', '.join(field.choices)}", value)
        return value
    if kind == "path":
        if isinstance(value, str):
            return value
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
            return value
        _fail(path, "must be a file path, or [images, labels] for an IDX pair", value)
    if kind == "widths":
        if not isinstance(value, list):
            _fail(path, "must be a list of layer widths", value)
        widths = []
        for index, width in enumerate(value):
            if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                _fail(f"{path}[{index}]", "must be an integer >= 1", width)
            widths.append(width)
        return widths
    if kind == "pair":
        if not isinstance(value, list) or len(value) != 2:
            _fail(path, "must be a list of two numbers", value)
        unit = Field("float", **_range(0, 1, high_open=True))
        return [_check_number(unit, f"{path}[{i}]", v) for i, v in enumerate(value)]
    raise AssertionError(kind)


def _resolve(schema, raw, path):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        _fail(path or "config", "must be a mapping", raw)
    for key in raw:
        if key not in schema:
            where = f"{path}.{key}" if path else str(key)
            hint = difflib.get_close_matches(str(key), list(schema), n=1)
            suggestion = f" (did you mean {(path + '.' if path else '') + hint[0]!r}?)" if hint else ""
            raise ConfigError(f"unknown key {where!r}{suggestion}")
    resolved = {}
    for key, spec in schema.items():
        where = f"{path}.{key}" if path else key
        if isinstance(spec, dict):
            resolved[key] = _resolve(spec, raw.get(key), where)
        else:
            resolved[key] = _check_field(spec, where, raw.get(key, copy.deepcopy(spec.default)))
    return resolved


def resolve(raw, name=None):
    """Validate ``raw`` against the schema; return the full config with every default filled in."""
    config = _resolve(SCHEMA, raw, "")
    data = config["data"]
    if (data["name"] is None) == (data["path"] is None):
        raise ConfigError("data: give exactly one of data.name (a built-in data set) and data.path (a file)")
    if config["name"] is None:
        config["name"] = name or data["name"] or "run"
    if any(c in config["name"] for c in "/\\\0"):
        _fail("name", "must be a plain name (it names the run directory under runs/)", config["name"])
    return config


def load_config(path, overrides=()):
    """Read, override and validate a config file; the run name defaults to the file's stem.

    File paths in it (``data.path``, ``data.test_path``, ``model.init_from``) are made absolute,
    relative to the current directory, so the saved config works from anywhere.
    """
    raw = apply_overrides(read_config(path), overrides)
    try:
        config = resolve(raw, name=Path(path).stem)
    except ConfigError as exc:  # name the file (and whether --set values took part)
        raise ConfigError(f"{path}{' with --set' if overrides else ''}: {exc}") from None
    for section, key in (("data", "path"), ("data", "test_path"), ("model", "init_from")):
        value = config[section][key]
        if isinstance(value, list):
            config[section][key] = [str(Path(v).expanduser().absolute()) for v in value]
        elif value is not None:
            config[section][key] = str(Path(value).expanduser().absolute())
    return config


def ignored_keys(config):
    """Optimizer and schedule keys set away from their defaults that the chosen ones do not use."""
    notes = []
    optimizer = config["optimizer"]
    used = OPTIMIZER_KEYS[optimizer["name"]]
    for key in ("momentum", "nesterov", "betas", "eps", "weight_decay", "alpha"):
        if key not in used and optimizer[key] != SCHEMA["optimizer"][key].default:
            notes.append(f"optimizer.{key} is ignored by {optimizer['name']}")
    schedule = optimizer["schedule"]
    for key in ("step_size", "gamma", "min_lr"):
        if key not in SCHEDULE_KEYS[schedule["name"]] and schedule[key] != SCHEMA["optimizer"]["schedule"][key].default:
            notes.append(f"optimizer.schedule.{key} is ignored by the {schedule['name']} schedule")
    return notes


def check_task(config, task, n_classes):
    """Loss/task agreement, checked once the data's task is known."""
    loss = config["loss"]["name"]
    where = f"loss.name: {loss}"
    if task == "regression" and loss in CLASSIFICATION_LOSSES:
        raise ConfigError(f"{where} needs class labels, but the data's target is a regression target (floats)")
    if task == "classification" and loss in REGRESSION_LOSSES and config["loss"]["target_encoding"] is None:
        raise ConfigError(
            f"{where} is a regression loss but the target holds class labels; set loss.target_encoding "
            f"to one_hot or plus_minus_one to train it on encoded labels, or use a classification loss"
        )
    if task == "classification" and n_classes < 2:
        source = config["data"]["path"] or config["data"]["name"]
        raise DataError(f"{source}: the target holds a single class; classification needs at least 2")
    if loss == "binary_cross_entropy" and n_classes != 2:
        raise ConfigError(f"{where} needs exactly 2 classes, the data has {n_classes}")
    if config["training"]["early_stopping"]["monitor"] == ("val_accuracy" if task == "regression" else "val_rmse"):
        raise ConfigError(
            f"training.early_stopping.monitor: {config['training']['early_stopping']['monitor']} does not "
            f"apply to a {task} task"
        )


def structural_hash(config):
    """Hash of the parts of a config that a resumed run must share with the original."""
    picked = {}
    for key in STRUCTURAL:
        node = config
        for part in key.split("."):
            node = node[part]
        picked[key] = node
    return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()


def dump(config):
    """The config as YAML text (what ``config.yaml`` in a run directory holds)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
