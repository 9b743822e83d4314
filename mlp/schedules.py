"""Learning-rate schedules: the rate for epoch e (0-based) as a pure function of e.

=================  ===========================================================
name               lr(e), before warm-up
=================  ===========================================================
``constant``       lr
``step``           lr · γ^⌊e / step_size⌋
``exponential``    lr · γ^e
``cosine``         min_lr + (lr − min_lr) · (1 + cos(π e / T)) / 2,  T = epochs
=================  ===========================================================

With ``warmup_epochs = w > 0`` the rate rises linearly, lr·(e + 1)/w for e < w, and the schedule
then runs on e − w. Being a function of the epoch alone, a schedule needs no state to resume.
"""
import math

from .registry import lookup


class Schedule:
    """Base class: ``lr_at(epoch)`` applies the warm-up, subclasses give ``factor(e)``."""

    name = "constant"

    def __init__(self, lr, epochs=1, warmup_epochs=0):
        if not lr > 0:
            raise ValueError(f"schedule: lr must be > 0, got {lr!r}")
        if not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise ValueError(f"schedule: warmup_epochs must be an integer >= 0, got {warmup_epochs!r}")
        self.lr = float(lr)
        self.epochs = max(int(epochs), 1)
        self.warmup_epochs = warmup_epochs

    def lr_at(self, epoch):
        if epoch < self.warmup_epochs:
            return self.lr * (epoch + 1) / self.warmup_epochs
        return self.rate(epoch - self.warmup_epochs)

    def rate(self, e):
        return self.lr


class Constant(Schedule):
    """lr(e) = lr."""


class StepDecay(Schedule):
    """lr(e) = lr · γ^⌊e / step_size⌋."""

    name = "step"

    def __init__(self, lr, epochs=1, warmup_epochs=0, step_size=10, gamma=0.1):
        super().__init__(lr, epochs, warmup_epochs)
        if not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"schedule step: step_size must be an integer >= 1, got {step_size!r}")
        if not 0 < gamma <= 1:
            raise ValueError(f"schedule step: gamma must be in (0, 1], got {gamma!r}")
        self.step_size, self.gamma = step_size, float(gamma)

    def rate(self, e):
        return self.lr * self.gamma ** (e // self.step_size)


class Exponential(Schedule):
    """lr(e) = lr · γ^e."""

    name = "exponential"

    def __init__(self, lr, epochs=1, warmup_epochs=0, gamma=0.95):
        super().__init__(lr, epochs, warmup_epochs)
        if not 0 < gamma <= 1:
            raise ValueError(f"schedule exponential: gamma must be in (0, 1], got {gamma!r}")
        self.gamma = float(gamma)

    def rate(self, e):
        return self.lr * self.gamma ** e


class Cosine(Schedule):
    """lr(e) = min_lr + (lr − min_lr)(1 + cos(π e / T)) / 2 over the T = epochs − warm-up epochs."""

    name = "cosine"

    def __init__(self, lr, epochs=1, warmup_epochs=0, min_lr=0.0):
        super().__init__(lr, epochs, warmup_epochs)
        if not 0 <= min_lr < lr:
            raise ValueError(f"schedule cosine: min_lr must be in [0, lr), got {min_lr!r}")
        self.min_lr = float(min_lr)

    def rate(self, e):
        span = max(self.epochs - self.warmup_epochs, 1)
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * min(e, span) / span)) / 2


SCHEDULES = {"constant": Constant, "step": StepDecay, "exponential": Exponential, "cosine": Cosine}


def get_schedule(name, lr, epochs=1, **kwargs):
    """Instantiate the schedule registered under ``name`` for base rate ``lr`` over ``epochs``."""
    return lookup(SCHEDULES, name, "schedule")(lr, epochs, **kwargs)
