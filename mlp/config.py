"""Experiment configs: YAML read with ``yaml.safe_load``, validated once into typed objects.

A :class:`Config` is built from a mapping in one pass and used as attributes everywhere after
(``config.optimizer.lr``). Every problem is reported before any training starts, as
:class:`~mlp.errors.ConfigError` naming the dotted key path: unknown keys (with a suggestion),
duplicate keys, wrong types, out-of-range values, unknown names (with the valid ones). Numbers
written as ``1e-3`` (a string to YAML 1.1) are read as numbers. Names resolve through the
registries only, so a config can never name code.

Where the keys come from: the ``data``, ``model`` and ``training`` sections are the fields of their
dataclasses below, each declared with its :class:`~mlp.validation.Setting`. The ``loss``,
``regularization``, ``optimizer`` and ``optimizer.schedule`` sections choose a component by name;
their other keys are the settings the components of that family declare beside their code
(``settings = {...}`` on each class), so a new optimizer setting is written once, in the optimizer.
"""

import copy
import difflib
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .data.datasets import BUILTIN
from .data.toy import TOY, check_params
from .errors import ArgumentError, ConfigError, shown
from .io.files import regular_file
from .nn.initializers import INITIALIZERS
from .nn.layers import ACTIVATIONS
from .nn.losses import LOSS_SETTINGS, LOSSES, TARGET_ENCODINGS
from .nn.regularizers import REGULARIZER_SETTINGS, REGULARIZERS
from .optim.optimizers import OPTIMIZER_SETTINGS, OPTIMIZERS
from .optim.schedules import SCHEDULE_SETTINGS, SCHEDULES
from .validation import Setting

# What must match for ``--resume``: the data, the network, the loss and the optimizer's state layout.
STRUCTURAL = (
    "seed",
    "data",
    "model",
    "loss",
    "regularization",
    "optimizer.name",
    "training.dtype",
    "training.batch_size",
    "training.shuffle",
)


def setting(kind, default=None, *, key=None, **constraints):
    """A dataclass field declared by its :class:`Setting` (its YAML key: ``key``, else the field's name)."""
    spec = Setting(kind, default, **constraints)
    metadata = {"setting": spec, "key": key}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def section(cls):
    """A dataclass field holding a nested section."""
    return field(default_factory=cls, metadata={"section": cls})


def _key(item):
    return item.metadata.get("key") or item.name


@dataclass
class ImputeConfig:
    numeric: str = setting("name", "median", choices=("median", "mean", "constant"), doc="constant: 0")
    categorical: str = setting(
        "name", "most_frequent", choices=("most_frequent", "constant"), doc="constant: its own category __missing__"
    )
    indicator: bool = setting("bool", False, doc="a 0/1 column per feature with missing training cells")


@dataclass
class DataConfig:
    name: str | None = setting("name", nullable=True, choices=tuple(BUILTIN), doc="built-in data set")
    path: Any = setting("path", nullable=True, doc="CSV, NPZ, or [images, labels] IDX pair")
    test_path: Any = setting("path", nullable=True, doc="a held-out file of the same kind")
    target: str | None = setting("str", nullable=True, doc="CSV target column (default: last)")
    task: str = setting("name", "auto", choices=("auto", "classification", "regression"))
    validation_split: float = setting("float", 0.1, low=0, high=1, high_open=True)
    test_split: float = setting("float", 0.2, low=0, high=1, high_open=True)
    standardize: bool | None = setting("bool", nullable=True, doc="default: true for tabular data")
    standardize_target: bool = setting("bool", True, doc="regression: train on standardized targets")
    corrupt_targets: float = setting(
        "float", 0.0, low=0, high=1, high_open=True, doc="regression: share of non-test targets shifted by ±10 std"
    )
    features: list | None = setting("names", nullable=True, doc="columns to use (default: all but target, id, ignore)")
    ignore: list = setting("names", [], doc="columns never used")
    id_column: str | None = setting("str", nullable=True, doc="never a feature; carried to predictions and reports")
    categorical: Any = setting("names_or_auto", "auto", doc="auto: columns whose non-missing cells are text")
    missing: str = setting("name", "error", choices=("error", "impute"))
    impute: ImputeConfig = section(ImputeConfig)
    max_categories: int = setting("int", 50, low=1, doc="a categorical column with more levels is an error")
    drop_missing_target: bool = setting("bool", False, doc="drop rows whose target is missing (else an error)")
    params: dict = setting(
        "mapping", {}, doc=f"a generated 2-D data set's n, noise, seed and own keys ({', '.join(TOY)})"
    )


@dataclass
class ModelConfig:
    hidden: list = setting("widths", [256, 256])
    activation: str = setting("name", "relu", choices=tuple(ACTIVATIONS))
    dropout: float = setting("float", 0.0, low=0, high=1, high_open=True, doc="after each hidden activation")
    input_dropout: float = setting("float", 0.0, low=0, high=1, high_open=True, doc="on the input features")
    init: str = setting("name", "he", choices=tuple(INITIALIZERS))
    init_from: str | None = setting(
        "str", nullable=True, doc="weights to start from: a model.npz, an np.savez state dict or a .safetensors file"
    )


@dataclass
class Component:
    """A member of a family (``family``: name → class) chosen by ``name``; ``options`` holds every
    setting the family's components declare (the section lists them all), of which the chosen one
    takes its own."""

    family: ClassVar[dict] = {}
    declared: ClassVar[dict] = {}
    default_name: ClassVar[str] = ""

    name: str = ""
    options: dict = field(default_factory=dict)

    def arguments(self) -> dict:
        """The chosen component's constructor keywords, from its own declared settings."""
        own = self.family[self.name].settings
        return {spec.arg or key: self.options[key] for key, spec in own.items()}

    def ignored(self) -> list:
        """Keys set away from their defaults that the chosen component does not take."""
        own = self.family[self.name].settings
        return [key for key, spec in self.declared.items() if key not in own and self.options[key] != spec.default]


@dataclass
class LossConfig(Component):
    family: ClassVar[dict] = LOSSES
    declared: ClassVar[dict] = LOSS_SETTINGS
    default_name: ClassVar[str] = "cross_entropy"

    target_encoding: str | None = setting(
        "name", nullable=True, choices=TARGET_ENCODINGS, doc="lets a regression loss train on class labels"
    )


@dataclass
class RegularizationConfig(Component):
    family: ClassVar[dict] = REGULARIZERS
    declared: ClassVar[dict] = REGULARIZER_SETTINGS
    default_name: ClassVar[str] = "none"

    max_norm: float | None = setting(
        "float",
        nullable=True,
        low=0,
        low_open=True,
        doc="after each step, rescale every unit's incoming weights to L2 norm <= this",
    )


@dataclass
class ScheduleConfig(Component):
    family: ClassVar[dict] = SCHEDULES
    declared: ClassVar[dict] = SCHEDULE_SETTINGS
    default_name: ClassVar[str] = "constant"


@dataclass
class OptimizerConfig(Component):
    family: ClassVar[dict] = OPTIMIZERS
    declared: ClassVar[dict] = OPTIMIZER_SETTINGS
    default_name: ClassVar[str] = "sgd"

    schedule: ScheduleConfig = section(ScheduleConfig)

    @property
    def lr(self) -> float:
        return self.options["lr"]


@dataclass
class EarlyStoppingConfig:
    patience: int | None = setting("int", 5, nullable=True, low=1, doc="null: never stop early")
    min_delta: float = setting("float", 0.0, low=0)
    monitor: str = setting("name", "val_loss", choices=("val_loss", "val_accuracy", "val_rmse"))


@dataclass
class LoggingConfig:
    tensorboard: bool = setting(
        "bool", False, doc="also write TensorBoard event files into <run dir>/tensorboard (extra: tensorboard)"
    )


@dataclass
class TrainingConfig:
    epochs: int = setting("int", 20, low=1)
    batch_size: int = setting("int", 128, low=1)
    shuffle: bool = setting("bool", True)
    dtype: str = setting("name", "float32", choices=("float32", "float64"))
    clip_grad_norm: float | None = setting(
        "float", nullable=True, low=0, low_open=True, doc="rescale the gradient vector to at most this L2 norm"
    )
    checkpoint_seconds: float | None = setting(
        "float",
        600.0,
        nullable=True,
        low=0,
        low_open=True,
        doc="also save last.npz inside an epoch once this long has "
        "passed since the last save (null: at epoch ends only)",
    )
    diagnostics: bool = setting(
        "bool", True, doc="per-layer gradient norms, update ratios, dead or saturated units, and findings"
    )
    kernels: str = setting(
        "name",
        "auto",
        choices=("auto", "numpy", "numba"),
        doc="element-wise kernels: numba's fused ones when installed (auto), or NumPy's; MLP_KERNELS=numpy",
    )
    threads: int | None = setting(
        "int", nullable=True, low=1, doc="threads for BLAS and the kernels (null: every core)"
    )
    early_stopping: EarlyStoppingConfig = section(EarlyStoppingConfig)


@dataclass
class Config:
    """A whole experiment; :meth:`from_dict` validates, :meth:`to_dict` gives the YAML/JSON mapping."""

    name: str | None = setting("str", nullable=True, doc="run name (default: the config file's stem)")
    seed: int = setting("int", 0, low=0, doc="one seed for init, split, shuffle and dropout streams")
    data: DataConfig = section(DataConfig)
    model: ModelConfig = section(ModelConfig)
    loss: LossConfig = section(LossConfig)
    regularization: RegularizationConfig = section(RegularizationConfig)
    optimizer: OptimizerConfig = section(OptimizerConfig)
    training: TrainingConfig = section(TrainingConfig)
    logging: LoggingConfig = section(LoggingConfig)

    @classmethod
    def from_dict(cls, raw) -> "Config":
        """Validate a mapping in the config format (every key optional); ``ConfigError`` names the key."""
        return _build(cls, raw, "")

    def to_dict(self) -> dict:
        """The mapping with every default filled in (what ``config.yaml`` and reports hold)."""
        return _as_dict(self)


# ------------------------------------------------------------------------------- the schema


def _own_fields(cls):
    return [item for item in fields(cls) if item.name not in ("name", "options") or not issubclass(cls, Component)]


def schema(cls) -> dict:
    """Key → :class:`Setting` or nested schema (a dict) for a section class: what a section accepts."""
    keys: dict = {}
    if issubclass(cls, Component):
        keys["name"] = Setting("name", cls.default_name, choices=tuple(cls.family))
        keys.update(cls.declared)
    for item in _own_fields(cls):
        keys[_key(item)] = schema(item.metadata["section"]) if "section" in item.metadata else item.metadata["setting"]
    return keys


def _build(cls, raw, path):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'}: must be a mapping, got {shown(raw)}")
    accepted = schema(cls)
    for key in raw:
        if key not in accepted:
            where = f"{path}.{key}" if path else str(key)
            hint = difflib.get_close_matches(str(key), list(accepted), n=1)
            suggestion = f" (did you mean {(path + '.' if path else '') + hint[0]!r}?)" if hint else ""
            raise ConfigError(f"unknown key {where!r}{suggestion}")

    def value(key, spec):
        where = f"{path}.{key}" if path else key
        return spec.check(where, raw.get(key, copy.deepcopy(spec.default)))

    values = {}
    if issubclass(cls, Component):
        values["name"] = value("name", accepted["name"])
        values["options"] = {key: value(key, spec) for key, spec in cls.declared.items()}
    for item in _own_fields(cls):
        key = _key(item)
        if "section" in item.metadata:
            values[item.name] = _build(item.metadata["section"], raw.get(key), f"{path}.{key}" if path else key)
        else:
            values[item.name] = value(key, item.metadata["setting"])
    return cls(**values)


def _as_dict(node):
    out = {}
    if isinstance(node, Component):
        out["name"] = node.name
        out.update(copy.deepcopy(node.options))
    for item in _own_fields(type(node)):
        value = getattr(node, item.name)
        out[_key(item)] = _as_dict(value) if "section" in item.metadata else copy.deepcopy(value)
    return out


# ------------------------------------------------------------------------------- YAML and files


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
                raise ConfigError(f"duplicate key {where!r} (lines {keys[key] + 1} and {key_node.start_mark.line + 1})")
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


def config_key(key):
    """The parts of the dotted config path ``key``; :class:`ConfigError` (with a suggestion) when the
    config has no such key."""
    parts = key.strip().split(".")
    node: Any = schema(Config)
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[: depth + 1])
            options = list(node) if isinstance(node, dict) else []
            hint = difflib.get_close_matches(part, options, n=1)
            suggestion = f" (did you mean {'.'.join(parts[:depth] + hint)!r}?)" if hint else ""
            raise ConfigError(f"no such config key {where!r}{suggestion}")
        node = node[part]
    return parts


def set_key(raw, parts, value):
    """Set the dotted path ``parts`` (from :func:`config_key`) of the mapping ``raw`` to ``value``."""
    target = raw
    for part in parts[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[parts[-1]] = value


def apply_overrides(raw, overrides):
    """Apply ``key.path=value`` strings (values parsed as YAML) to ``raw``; unknown paths fail."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ArgumentError("{set} expects key.path=value, got {item}", item=repr(item))
        key, text = item.split("=", 1)
        try:
            parts = config_key(key)
            value = parse_yaml(text, "the value")
        except ConfigError as exc:
            raise ArgumentError("{set} {key}: {problem}", key=key, problem=str(exc)) from None
        set_key(raw, parts, value)
    return raw


def resolve(raw, name=None, data_given=False) -> Config:
    """Validate ``raw`` into a :class:`Config`; the run name defaults to ``name``, then the data set's.

    Unless the rows come from the caller (``data_given``), exactly one of ``data.name`` and
    ``data.path`` must say where they are.
    """
    config = Config.from_dict(raw)
    data = config.data
    if data_given:
        data.name = data.path = data.test_path = None
    elif (data.name is None) == (data.path is None):
        raise ConfigError("data: give exactly one of data.name (a built-in data set) and data.path (a file)")
    if data.name in TOY:
        data.params = check_params(data.name, data.params)  # every default filled in: config.yaml shows them
    elif data.params:
        raise ConfigError(f"data.params: only the generated data sets take params ({', '.join(TOY)})")
    if config.name is None:
        config.name = name or data.name or "run"
    if any(c in config.name for c in "/\\\0"):
        raise ConfigError(
            f"name: must be a plain name (it names the run directory under runs/), got {shown(config.name)}"
        )
    return config


def load_config(source, overrides=(), data_given=False) -> Config:
    """A validated :class:`Config` from a YAML file (``source``: a path) or a mapping, with
    ``key.path=value`` overrides; a file's run name defaults to its stem.

    File paths in it (``data.path``, ``data.test_path``, ``model.init_from``) are made absolute,
    relative to the current directory, so the saved config works from anywhere.
    """
    from_file = not isinstance(source, dict)
    raw = apply_overrides(read_config(source) if from_file else source, overrides)
    try:
        config = resolve(raw, Path(source).stem if from_file else None, data_given)
    except ConfigError as exc:  # name the file (and whether overrides took part)
        label = str(source) if from_file else "config"
        if overrides:
            raise ArgumentError("{label}{with_set}: {problem}", label=label, problem=str(exc)) from None
        raise ConfigError(f"{label}: {exc}") from None
    for section_config, key in ((config.data, "path"), (config.data, "test_path"), (config.model, "init_from")):
        value = getattr(section_config, key)
        if isinstance(value, list):
            setattr(section_config, key, [str(Path(v).expanduser().absolute()) for v in value])
        elif value is not None:
            setattr(section_config, key, str(Path(value).expanduser().absolute()))
    return config


def ignored_keys(config: Config) -> list:
    """Optimizer and schedule keys set away from their defaults that the chosen ones do not use."""
    optimizer, schedule = config.optimizer, config.optimizer.schedule
    return [f"optimizer.{key} is ignored by {optimizer.name}" for key in optimizer.ignored()] + [
        f"optimizer.schedule.{key} is ignored by the {schedule.name} schedule" for key in schedule.ignored()
    ]


def structural_hash(config: Config) -> str:
    """Hash of the parts of a config that a resumed run must share with the original."""
    flat = config.to_dict()
    picked = {}
    for key in STRUCTURAL:
        node = flat
        for part in key.split("."):
            node = node[part]
        picked[key] = node
    return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()


def dump(config: Config) -> str:
    """The config as YAML text (what ``config.yaml`` in a run directory holds)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None)
