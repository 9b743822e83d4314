"""Optimizers (in-place parameter updates) and learning-rate schedules."""

from .optimizers import OPTIMIZERS, Optimizer, get_optimizer
from .schedules import SCHEDULES, Schedule, get_schedule

__all__ = ["OPTIMIZERS", "Optimizer", "get_optimizer", "SCHEDULES", "Schedule", "get_schedule"]
