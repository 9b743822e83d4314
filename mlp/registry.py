"""Name → class lookup shared by every family (losses, layers, optimizers, …).

Configs name things by snake_case strings; they resolve here and only here, so a config can never
reach an importable callable.
"""

import difflib


def lookup(registry, name, family):
    """Return ``registry[name]``; an unknown name raises ``ValueError`` listing the valid ones."""
    if isinstance(name, str) and name in registry:
        return registry[name]
    valid = ", ".join(sorted(registry))
    hint = difflib.get_close_matches(str(name), list(registry), n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise ValueError(f"unknown {family} {name!r}{suggestion}; valid names: {valid}")
