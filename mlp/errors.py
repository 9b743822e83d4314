"""The error taxonomy: what the user caused, what the run did, and everything else (a bug).

* :class:`MlpError` and its subclasses — bad input from the user (a config, a data file, a model
  file, an argument). The command line prints the message on one line and exits with status 2.
  It is also a ``ValueError``, so Python callers may catch either.
* :class:`NonFiniteError` — training diverged (a NaN or an infinity): exit status 3.
* Anything else is a bug: ``internal error`` and exit status 1 (the traceback with ``--debug``).
  A plain ``ValueError`` raised inside the package is a bug too, never reported as the user's fault.
"""

import reprlib


def shown(value, items=5):
    """``repr(value)`` cut short (``...``) for a message: two levels deep, ``items`` per container,
    60 characters per string or number.

    Its cost is bounded too: a YAML file of nested aliases (a "billion laughs") is small on disk but
    expands to billions of items in a full ``repr``.
    """
    short = reprlib.Repr()
    short.maxlevel = 2
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = items
    short.maxstring = short.maxother = short.maxlong = 60
    return short.repr(value)


def clipped(text, limit=200):
    """``text`` (e.g. a library's exception message about bytes it could not parse) cut at ``limit``."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


class MlpError(ValueError):
    """Bad input from the user: a config, a data file, a model file, an argument."""


class ConfigError(MlpError):
    """A config value (or a component's argument) that is missing, unknown, of the wrong type or out
    of range."""


class DataError(MlpError):
    """A data file or data set that cannot be used as given."""


class CheckpointError(MlpError):
    """A model or checkpoint file that is missing, corrupt or does not fit."""


class StateError(RuntimeError, ValueError):
    """An object used in the wrong order, e.g. ``backward`` before ``forward``."""


class ContractError(RuntimeError):
    """A layer broke the layer contract (see :mod:`mlp.nn.layers`); :func:`mlp.check_layer` checks
    every rule of it."""


class NonFiniteError(RuntimeError):
    """Training produced a NaN or an infinity (a diverging run, not bad input)."""


class TrialsFailed(Exception):
    """A sweep ended with failed trials (each recorded, with its message, in its ledger): exit status 4."""


class Interrupted(Exception):
    """Training stopped on request (SIGINT/SIGTERM) after its callbacks saved what they keep."""


class ArgumentError(ConfigError):
    """Arguments that do not fit the run, named as the front end that raised it spells them.

    ``template`` holds ``{overwrite}``, ``{out}``, ``{out_elsewhere}``, ``{resume}``,
    ``{give_config}``, ``{allow_changed_data}``, ``{set}`` and ``{with_set}`` where an argument is named, and ``{name}`` for
    each value passed as ``name=value``; ``str()`` spells them as :func:`mlp.train` takes
    them (``overwrite=True``), :meth:`for_cli` as the ``mlp`` command does (``--overwrite``).
    """

    API = {
        "overwrite": "overwrite=True",
        "out": "out",
        "out_elsewhere": "another out directory",
        "resume": "resume",
        "give_config": "pass the run's config as config=",
        "allow_changed_data": "allow_changed_data=True",
        "set": "overrides",
        "with_set": " with overrides",
    }
    CLI = {
        "overwrite": "--overwrite",
        "out": "--out",
        "out_elsewhere": "--out elsewhere",
        "resume": "--resume",
        "give_config": "give the run's config: mlp train --resume {run_dir} CONFIG",
        "allow_changed_data": "--allow-changed-data",
        "set": "--set",
        "with_set": " with --set",
    }

    def __init__(self, template, **values):
        self.template, self.values = template, values
        super().__init__(template.format_map({**self.API, **values}))

    def for_cli(self):
        words = {key: phrase.format_map(_Unfilled(self.values)) for key, phrase in self.CLI.items()}
        return self.template.format_map({**words, **self.values})


class _Unfilled(dict):
    """A mapping for ``str.format_map`` that leaves a name it lacks as it was."""

    def __missing__(self, key):
        return "{" + key + "}"
