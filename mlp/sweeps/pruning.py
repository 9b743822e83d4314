"""What to train next: the next trial, or (ASHA) a paused trial promoted to the next rung.

The rules read only the trials' states (replayed from the ledger), so a sweep decides the same way
whether it runs on or resumes. They are deterministic for a fixed sweep and worker count because
the driver applies results in the order their work was handed out (see
:mod:`mlp.sweeps.driver`).

* ``none``: every trial to the end, in order.
* ``median`` (Optuna's median pruner): a trial started once ``min_trials`` trials have finished
  carries, per epoch e, the median of their metric at e; it stops at the first epoch
  e ≥ ``min_epochs`` where its metric is worse.
* ``asha`` (asynchronous successive halving, Li et al. 2020): rungs at r_k = ``min_epochs`` ×
  ``reduction``^k epochs (below the trial's epoch budget). A new trial trains to r_0 and pauses.
  Whenever work is wanted, from the top rung down: a paused trial in the best
  ⌊n_k / ``reduction``⌋ of the n_k trials that reached rung k is promoted (resumed from its
  checkpoint to r_{k+1}, or to the end); otherwise the next new trial starts. Once every trial has
  started, the best ⌈n_k / ``reduction``⌉ are promoted (so a finite sweep finishes at least one
  trial). Trials still paused when nothing is left to do are pruned.
"""

import statistics
from dataclasses import dataclass


@dataclass
class Work:
    """Train ``trial`` until epoch ``until`` (``None``: to the end), pruning against ``reference``."""

    trial: object  # a spec.Trial
    until: int | None = None
    reference: dict | None = None
    promoted: bool = False


class Rule:
    """The pruning rule of ``sweep`` over ``states`` (``{trial id: ledger.TrialState}``, kept current
    by the driver)."""

    def __init__(self, sweep, states):
        self.sweep, self.states, self.pruning = sweep, states, sweep.pruning
        self.by_id = {t.id: t for t in sweep.trials}
        self.unstarted = [t for t in sweep.trials if _unstarted(states[t.id])]

    @property
    def ordered(self):
        """Whether decisions depend on results (so results must be applied in a fixed order)."""
        return self.pruning.name != "none"

    def next_work(self):
        """The next :class:`Work`, or ``None`` when nothing can start now."""
        if self.pruning.name == "asha":
            promotion = self._promotion()
            if promotion is not None:
                return promotion
        if not self.unstarted:
            return None
        trial = self.unstarted.pop(0)
        if self.pruning.name == "asha":
            return Work(trial, self._rung_after(trial, 0))
        if self.pruning.name == "median":
            return Work(trial, reference=self._reference())
        return Work(trial)

    def rungs(self, trial):
        """The rung epochs of ``trial``: ``min_epochs`` × ``reduction``^k below its epoch budget."""
        rung, rungs = self.pruning.min_epochs, []
        while rung < trial.epochs:
            rungs.append(rung)
            rung *= self.pruning.reduction
        return rungs

    def _rung_after(self, trial, epoch):
        return next((r for r in self.rungs(trial) if r > epoch), None)

    def _promotion(self):
        rung_epochs = sorted({r for s in self.states.values() for r in s.rungs}, reverse=True)
        for rung in rung_epochs:
            reached = [(trial_id, s.rungs[rung]) for trial_id, s in self.states.items() if rung in s.rungs]
            top = (
                len(reached) // self.pruning.reduction if self.unstarted else -(-len(reached) // self.pruning.reduction)
            )
            for trial_id, _ in sorted(reached, key=self._rank)[:top]:
                state = self.states[trial_id]
                if state.status == "paused" and state.epoch == rung and rung not in state.promoted:
                    trial = self.by_id[trial_id]
                    return Work(trial, self._rung_after(trial, rung), promoted=True)
        return None

    def _rank(self, item):
        """Sort key: best metric first (a missing value last), then trial order."""
        trial_id, value = item
        order = self.by_id[trial_id].index
        if value is None:
            return (1, 0.0, order)
        return (0, -value if self.sweep.maximize else value, order)

    def _reference(self):
        """Epoch -> median metric of the finished trials at that epoch, once ``min_trials`` finished."""
        curves = [s.curve for s in self.states.values() if s.status == "finished"]
        if len(curves) < self.pruning.min_trials:
            return None
        reference = {}
        for epoch in range(1, max(len(c) for c in curves) + 1):
            values = [c[epoch - 1] for c in curves if len(c) >= epoch and c[epoch - 1] is not None]
            if len(values) >= self.pruning.min_trials:
                reference[epoch] = statistics.median(values)
        return reference

    def leftovers(self):
        """The trials paused at a rung that nothing will promote any more (pruned at the end)."""
        return [t for t in self.sweep.trials if self.states[t.id].status == "paused"]


def _unstarted(state):
    return state.status == "queued" and not state.submitted and not state.rungs
