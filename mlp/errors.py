"""Exceptions a user can cause, kept apart from programming errors.

Everything here derives from :class:`MlpError` (itself a ``ValueError``): the command line prints
its message on one line and exits with status 2. Any other exception is a bug.
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
    """A config value that is missing, unknown, of the wrong type or out of range."""


class DataError(MlpError):
    """A data file or data set that cannot be used as given."""


class CheckpointError(MlpError):
    """A model or checkpoint file that is missing, corrupt or does not fit."""


class StateError(RuntimeError, ValueError):
    """An object used in the wrong order, e.g. ``backward`` before ``forward``."""


class NonFiniteError(RuntimeError):
    """Training produced a NaN or an infinity (a diverging run, not bad input)."""
