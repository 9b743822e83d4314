"""The ledger: events survive as written, a torn last line is dropped, one outcome per trial."""

from mlp.sweeps.ledger import Ledger, read_events, replay


def test_events_are_read_back_and_a_torn_line_is_dropped_on_reopening(tmp_path):
    path = tmp_path / "sweep.jsonl"
    ledger = Ledger(path)
    ledger.append("queued", trial="a", index=0, values={})
    ledger.close()
    with open(path, "ab") as file:  # a driver killed in the middle of a write
        file.write(b'{"event":"submitted","tri')
    assert [e["event"] for e in read_events(path)] == ["queued"]
    ledger = Ledger(path)
    ledger.append("submitted", trial="a", until=None)
    ledger.close()
    assert [e["event"] for e in read_events(path)] == ["queued", "submitted"]


def test_a_trial_has_one_outcome_whatever_comes_after_it(tmp_path):
    events = [
        {"event": "queued", "trial": "a"},
        {"event": "submitted", "trial": "a", "until": None},
        {"event": "started", "trial": "a", "attempt": 1},
        {"event": "lost", "trial": "a", "attempt": 1},
        {"event": "started", "trial": "a", "attempt": 2},
        {"event": "finished", "trial": "a", "epoch": 4, "value": 0.5, "curve": [1, 0.5]},
        {"event": "failed", "trial": "a", "message": "late"},
        {"event": "queued", "trial": "b"},
        {"event": "submitted", "trial": "b", "until": 2},
        {"event": "paused", "trial": "b", "epoch": 2, "value": 0.7},
    ]
    states = replay(events)
    assert states["a"].status == "finished" and states["a"].attempts == 2 and states["a"].value == 0.5
    assert states["b"].status == "paused" and states["b"].rungs == {2: 0.7} and not states["b"].submitted
