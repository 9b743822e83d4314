"""Exceptions a user can cause, kept apart from programming errors.

Everything here derives from :class:`MlpError` (itself a ``ValueError``): the command line prints
its message on one line and exits with status 2. Any other exception is a bug.
"""
import reprlib

_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict = 2, 5, 5, 5
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 60, 60, 60


def shown(value):
    """``repr(value)`` cut short (``...``) for a message about a bad value.

    Its cost is bounded too: a YAML file of nested aliases (a "billion laughs") is small on disk but
    expands to billions of items in a full ``repr``.
    """
    return _SHORT.repr(value)


class MlpError(ValueError):
    """Bad input from the user: a config, a data file, a model file, an argument."""


class ConfigError(MlpError):
    """A config value that is missing, unknown, of the wrong type or out of range."""


class DataError(MlpError):
    """A data file or data set that cannot be used as given."""


class CheckpointError(MlpError):
    """A model or checkpoint file that is missing, corrupt or does not fit."""


class StateError(RuntimeError, ValueError):
    """An object used in the wrong order, e.g. ``backward`` before ``forward``."""


class NonFiniteError(RuntimeError):
    """Training produced a NaN or an infinity (a diverging run, not bad input)."""
