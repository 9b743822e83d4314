"""The pruning rules' decisions, worked by hand on made-up metric values."""

from mlp.sweeps.ledger import apply
from mlp.sweeps.pruning import Rule
from mlp.sweeps.spec import build_sweep

BASE = {"data": {"name": "iris"}, "training": {"epochs": 20}}


def setup(n, pruning):
    sweep = build_sweep(
        {"base": BASE, "grid": {"optimizer.lr": [0.01 * (i + 1) for i in range(n)]}, "pruning": pruning}, "t"
    )
    states = {}
    for trial in sweep.trials:
        apply(states, {"event": "queued", "trial": trial.id})
    return sweep, states, Rule(sweep, states)


def hand_out(states, rule):
    work = rule.next_work()
    if work is not None:
        if work.promoted:
            apply(states, {"event": "promoted", "trial": work.trial.id, "until": work.until})
        apply(states, {"event": "submitted", "trial": work.trial.id, "until": work.until})
    return work


def test_asha_promotes_the_best_third_of_each_rung_and_prunes_the_rest():
    sweep, states, rule = setup(4, {"name": "asha", "min_epochs": 2, "reduction": 3})
    t = [trial.id for trial in sweep.trials]
    assert rule.rungs(sweep.trials[0]) == [2, 6, 18]
    loss_at_2 = {t[0]: 0.9, t[1]: 0.5, t[2]: 0.7, t[3]: 0.6}
    decisions = []
    for _ in range(3):  # t0, t1, t2 start and pause at rung 2; fewer than 3 there: nothing promoted
        work = hand_out(states, rule)
        decisions.append((work.trial.id, work.until, work.promoted))
        apply(states, {"event": "paused", "trial": work.trial.id, "epoch": 2, "value": loss_at_2[work.trial.id]})
    assert decisions == [(t[0], 2, False), (t[1], 2, False), (t[2], 2, False)]
    # 3 trials at rung 2 with one left to start: the best ⌊3/3⌋ = 1 (t1, 0.5) goes on to epoch 6
    work = hand_out(states, rule)
    assert (work.trial.id, work.until, work.promoted) == (t[1], 6, True)
    apply(states, {"event": "paused", "trial": t[1], "epoch": 6, "value": 0.3})
    # rung 6 holds one trial (⌊1/3⌋ = 0), rung 2's best is promoted already: the last trial starts
    work = hand_out(states, rule)
    assert (work.trial.id, work.until, work.promoted) == (t[3], 2, False)
    apply(states, {"event": "paused", "trial": t[3], "epoch": 2, "value": 0.6})
    # all started: ⌈n/3⌉ per rung; from the top: rung 6 (t1) -> 18, then 18 -> the end
    work = hand_out(states, rule)
    assert (work.trial.id, work.until) == (t[1], 18)
    apply(states, {"event": "paused", "trial": t[1], "epoch": 18, "value": 0.2})
    work = hand_out(states, rule)
    assert (work.trial.id, work.until) == (t[1], None)
    apply(states, {"event": "finished", "trial": t[1], "epoch": 20, "value": 0.1, "curve": []})
    # rung 2 now has 4 trials: ⌈4/3⌉ = 2, so the second best (t3, 0.6) is promoted too
    work = hand_out(states, rule)
    assert (work.trial.id, work.until) == (t[3], 6)
    apply(states, {"event": "paused", "trial": t[3], "epoch": 6, "value": 0.4})
    # rung 6: t1 0.3, t3 0.4; ⌈2/3⌉ = 1: t1, already promoted: nothing more to do
    assert hand_out(states, rule) is None
    assert [trial.id for trial in rule.leftovers()] == [t[0], t[2], t[3]]


def test_median_reference_is_per_epoch_over_the_finished_trials_once_enough_finished():
    sweep, states, rule = setup(5, {"name": "median", "min_trials": 2})
    t = [trial.id for trial in sweep.trials]
    assert hand_out(states, rule).reference is None
    apply(states, {"event": "finished", "trial": t[0], "epoch": 3, "value": 0.1, "curve": [0.9, 0.5, 0.1]})
    assert hand_out(states, rule).reference is None  # one finished: fewer than min_trials
    apply(states, {"event": "finished", "trial": t[1], "epoch": 2, "value": 0.3, "curve": [0.7, 0.3]})
    assert hand_out(states, rule).reference == {1: 0.8, 2: 0.4}  # epoch 3: one trial only
