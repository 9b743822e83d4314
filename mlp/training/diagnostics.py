"""Training diagnostics: how each layer is doing, per epoch, and what that says in plain language.

Per epoch and per linear layer k (a callback of the engine; ``training.diagnostics: false`` turns it
off), measured on ``SAMPLED_STEPS`` steps spread over the epoch and on up to ``SAMPLED_ROWS``
validation rows, so that the cost stays a small share of an epoch:

* ``grad_norm`` — ‖∇_{W⁽ᵏ⁾} J‖ (Frobenius) before the optimizer step, the mean over the sampled steps;
* ``update_ratio`` — ‖ΔW⁽ᵏ⁾‖ / ‖W⁽ᵏ⁾‖ of one optimizer step, the mean over the sampled steps
  (CS231n's rule of thumb: about 1e-3);
* ``dead`` — for a ReLU layer, the share of its units never active on the sampled validation rows;
  ``saturated`` — for sigmoid or tanh, the share of activations within 0.01 of the limits;
* ``mean``, ``std`` — of the layer's activations h⁽ᵏ⁾ on those rows.

:func:`findings` reads a run's history and returns the plain-language findings, each with the
threshold in :data:`THRESHOLDS` that fired it.
"""

import numpy as np

from ..nn.layers import Linear, ReLU, Sigmoid, Tanh
from .trainer import Callback

SAMPLED_STEPS = 4
SAMPLED_ROWS = 1000
THRESHOLDS = {
    "dead": 0.5,  # share of a ReLU layer's units dead, for 3 epochs in a row up to the last
    "saturated": 0.5,  # share of a sigmoid/tanh layer's activations saturated in the last epoch
    "update_high": 0.15,  # a layer's largest update/weight ratio over the epochs
    "update_low": 1e-5,  # a layer's median update/weight ratio over the epochs
    "vanishing": 1e-3,  # first layer's gradient norm over the last layer's (median over the epochs)
    "chance_epochs": 5,  # validation accuracy within 0.02 of always guessing the most frequent class
    "chance_margin": 0.02,
}


class Diagnostics(Callback):
    """Adds ``record["layers"]``: one dict per linear layer (see the module's docstring).

    The sampled steps depend only on the epoch's number of batches, and the sums so far live in the
    trainer's state (``state.extras``, saved in checkpoints): a run resumed inside an epoch records
    the same diagnostics as one never interrupted.
    """

    key = "diagnostics"

    def __init__(self):
        self.linears: list = []
        self.activations: list = []
        self.sampled: set = set()
        self.before = None

    def on_train_begin(self, trainer):
        layers = trainer.experiment.network.layers
        self.linears = [i for i, layer in enumerate(layers) if isinstance(layer, Linear)]
        self.activations = [_activation_after(layers, i) for i in self.linears]

    def on_epoch_begin(self, trainer):
        steps = len(trainer.batches)
        count = min(SAMPLED_STEPS, steps)
        self.sampled = {int(round(p)) for p in np.linspace(0, steps - 1, count + 2)[1:-1]} if count else set()
        sums = trainer.state.extras.get(self.key)
        if trainer.state.batch == 0 or not _valid(sums, len(self.linears)):
            trainer.state.extras[self.key] = [{"grad": 0.0, "ratio": 0.0, "steps": 0} for _ in self.linears]

    def on_before_step(self, trainer, index):
        """At a sampled step: ‖∇W J‖ now, and W kept to measure the step's ΔW after it."""
        if index not in self.sampled:
            return
        layers = trainer.experiment.network.layers
        for sums, i in zip(trainer.state.extras[self.key], self.linears):
            sums["grad"] += float(np.linalg.norm(layers[i].grads["W"]))
        self.before = [layers[i].params["W"].copy() for i in self.linears]

    def on_batch_end(self, trainer, index):
        if self.before is None:
            return
        layers = trainer.experiment.network.layers
        for sums, i, before in zip(trainer.state.extras[self.key], self.linears, self.before):
            W = layers[i].params["W"]
            sums["ratio"] += float(np.linalg.norm(W - before)) / max(float(np.linalg.norm(W)), 1e-30)
            sums["steps"] += 1
        self.before = None

    def on_epoch_end(self, trainer, record):
        experiment = trainer.experiment
        X_val = experiment.splits.X_val
        rows = X_val[:SAMPLED_ROWS] if X_val is not None and len(X_val) else None
        outputs = _activations(experiment.network, rows) if rows is not None else {}
        layers = []
        for slot, (sums, i) in enumerate(zip(trainer.state.extras[self.key], self.linears)):
            steps = sums["steps"]
            entry = {
                "layer": slot + 1,
                "grad_norm": sums["grad"] / steps if steps else None,
                "update_ratio": sums["ratio"] / steps if steps else None,
            }
            after = self.activations[slot]
            h = outputs.get(after if after is not None else i)
            if h is not None:
                entry["mean"], entry["std"] = float(h.mean()), float(h.std())
                kind = type(experiment.network.layers[after]) if after is not None else None
                if kind is ReLU:
                    entry["dead"] = float(np.mean(~(h > 0).any(axis=0)))
                elif kind is Sigmoid:
                    entry["saturated"] = float(np.mean((h < 0.01) | (h > 0.99)))
                elif kind is Tanh:
                    entry["saturated"] = float(np.mean(np.abs(h) > 0.99))
            layers.append(entry)
        record["layers"] = layers


def _valid(sums, n_layers):
    """Whether a checkpoint's diagnostics sums have the form this run keeps."""
    keys = {"grad", "ratio", "steps"}
    return (
        isinstance(sums, list)
        and len(sums) == n_layers
        and all(
            isinstance(s, dict) and set(s) == keys and all(isinstance(v, int | float) for v in s.values()) for s in sums
        )
    )


def _activation_after(layers, index):
    """The index of the activation following the linear layer ``index`` (``None``: the output layer)."""
    for j in range(index + 1, len(layers)):
        if isinstance(layers[j], Linear):
            return None
        if isinstance(layers[j], ReLU | Sigmoid | Tanh):
            return j
    return None


def _activations(network, rows):
    """Each layer's output on ``rows`` (an evaluation pass: nothing cached, no dropout)."""
    outputs, h = {}, rows
    for index, layer in enumerate(network.layers):
        h = layer.forward(h, training=False)
        outputs[index] = h
    return outputs


def findings(history, task=None, majority=None):
    """Plain-language findings from the epoch records' ``layers`` (and validation accuracy);
    ``majority``: the share of the most frequent class among the validation rows."""
    records = [r for r in history if r.get("layers")]
    if not records:
        return []
    found = []
    n_layers = len(records[-1]["layers"])
    for slot in range(n_layers):
        k = slot + 1
        dead = [r["layers"][slot].get("dead") for r in records]
        if dead[-1] is not None and all(d is not None and d >= THRESHOLDS["dead"] for d in dead[-3:]):
            since = len(dead) - 1
            while since > 0 and dead[since - 1] is not None and dead[since - 1] >= THRESHOLDS["dead"]:
                since -= 1
            found.append(f"layer {k}: {dead[-1]:.0%} of ReLU units dead since epoch {records[since]['epoch']}")
        saturated = records[-1]["layers"][slot].get("saturated")
        if saturated is not None and saturated >= THRESHOLDS["saturated"]:
            found.append(f"layer {k}: {saturated:.0%} of its activations saturated: its gradients all but vanish")
        ratios = [
            (r["layers"][slot]["update_ratio"], r["epoch"]) for r in records if r["layers"][slot].get("update_ratio")
        ]
        if ratios:
            highest, epoch = max(ratios)
            median = float(np.median([ratio for ratio, _ in ratios]))
            if highest > THRESHOLDS["update_high"]:
                found.append(
                    f"update/weight ratio {highest:.2g} in layer {k} at epoch {epoch}: the learning rate is likely too high"
                )
            elif median < THRESHOLDS["update_low"]:
                found.append(f"update/weight ratio {median:.2g} in layer {k}: the learning rate is likely too low")
    if n_layers >= 3:
        first = [r["layers"][0]["grad_norm"] for r in records if r["layers"][0].get("grad_norm")]
        last = [r["layers"][-1]["grad_norm"] for r in records if r["layers"][-1].get("grad_norm")]
        if first and last:
            ratio = float(np.median(first) / max(np.median(last), 1e-300))
            if ratio < THRESHOLDS["vanishing"]:
                found.append(
                    f"gradient norm of layer 1 is {ratio:.1g} of layer {n_layers}'s: vanishing gradients "
                    f"(try ReLU units, or fewer layers)"
                )
    epochs = THRESHOLDS["chance_epochs"]
    accuracy = [r.get("val_accuracy") for r in history]
    if task == "classification" and majority is not None and len(accuracy) >= epochs and accuracy[-1] is not None:
        if all(a is not None and a <= majority + THRESHOLDS["chance_margin"] for a in accuracy[epochs - 1 :]):
            found.append(
                f"validation accuracy at chance level after {epochs} epochs ({accuracy[-1]:.1%}; always guessing the "
                f"most frequent class scores {majority:.1%})"
            )
    return found
