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

from ..registry import lookup
from ..validation import Setting, check_number, declared_settings

GAMMA = Setting("float", 0.1, low=0, high=1, low_open=True, doc="step, exponential")


class Schedule:
    """Base class: ``lr_at(epoch)`` applies the warm-up, subclasses give ``factor(e)``."""

    name = "constant"
    settings: dict = {"warmup_epochs": Setting("int", 0, low=0, doc="linear warm-up before any schedule")}

    def __init__(self, lr, epochs=1, warmup_epochs=0):
        self.lr = check_number("schedule: lr", lr, 0, low_open=True)
        self.epochs = max(int(epochs), 1)
        self.warmup_epochs = check_number("schedule: warmup_epochs", warmup_epochs, 0, integer=True)

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
    settings = {**Schedule.settings, "step_size": Setting("int", 10, low=1, doc="step"), "gamma": GAMMA}

    def __init__(self, lr, epochs=1, warmup_epochs=0, step_size=10, gamma=0.1):
        super().__init__(lr, epochs, warmup_epochs)
        self.step_size = check_number("schedule step: step_size", step_size, 1, integer=True)
        self.gamma = check_number("schedule step: gamma", gamma, 0, 1, low_open=True)

    def rate(self, e):
        return self.lr * self.gamma ** (e // self.step_size)


class Exponential(Schedule):
    """lr(e) = lr · γ^e."""

    name = "exponential"
    settings = {**Schedule.settings, "gamma": GAMMA}

    def __init__(self, lr, epochs=1, warmup_epochs=0, gamma=0.95):
        super().__init__(lr, epochs, warmup_epochs)
        self.gamma = check_number("schedule exponential: gamma", gamma, 0, 1, low_open=True)

    def rate(self, e):
        return self.lr * self.gamma**e


class Cosine(Schedule):
    """lr(e) = min_lr + (lr − min_lr)(1 + cos(π e / T)) / 2 over the T = epochs − warm-up epochs."""

    name = "cosine"
    settings = {**Schedule.settings, "min_lr": Setting("float", 0.0, low=0, doc="cosine")}

    def __init__(self, lr, epochs=1, warmup_epochs=0, min_lr=0.0):
        super().__init__(lr, epochs, warmup_epochs)
        self.min_lr = check_number("schedule cosine: min_lr", min_lr, 0, self.lr, high_open=True)

    def rate(self, e):
        span = max(self.epochs - self.warmup_epochs, 1)
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * min(e, span) / span)) / 2


SCHEDULES = {"constant": Constant, "step": StepDecay, "exponential": Exponential, "cosine": Cosine}
SCHEDULE_SETTINGS = declared_settings(SCHEDULES)


def get_schedule(name, lr, epochs=1, **kwargs):
    """Instantiate the schedule registered under ``name`` for base rate ``lr`` over ``epochs``."""
    return lookup(SCHEDULES, name, "schedule")(lr, epochs, **kwargs)
