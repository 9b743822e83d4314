"""A model as one ONNX graph: the feature transform, the layers and the output, built and checked
with the ``onnx`` package (the optional extra ``pip install -e ".[onnx]"``).

The graph computes what :class:`~mlp.model.Model` computes, operator for operator:

=====================================  ===============================================================
inputs                                 a table's model: one input per raw column, named after it,
                                       ``[N, 1]`` — numbers in the model's dtype (NaN: missing) or
                                       strings for a categorical column (a missing marker such as
                                       ``""`` or ``"NA"``: missing); rows of numbers: one input
                                       ``features`` ``[N, d]``
numeric columns                        ``Where(IsNaN(x), fill, x)`` (imputation); ``x · scale``;
                                       ``(x − mean) / std`` (standardization)
categorical columns                    missing markers → the fill; ``ai.onnx.ml.OneHotEncoder`` over
                                       the training categories (an unseen one: all zeros, as in mlp)
missing indicators                     ``Cast(IsNaN(x))`` / ``Cast(missing marker)``
layers                                 ``Gemm`` (``x Wᵀ + b``, W as mlp stores it), ``Relu``,
                                       ``LeakyRelu``, ``Sigmoid``, ``Tanh`` (dropout is the identity)
outputs                                ``label`` (class names) and ``probabilities`` (``Softmax``, or
                                       the sigmoid's ``[1 − p, p]``) for the cross-entropies;
                                       ``label`` and ``scores`` for the hinge losses; ``values`` in the
                                       target's units (double, as mlp computes them) for regression
=====================================  ===============================================================

The class names, feature names, task, loss and the ``mlp`` version are in the model's metadata.
A network of the user's own built from mlp's layers exports too; anything without an exact ONNX
equivalent (a layer of the user's own) is refused by name, before anything is written.
"""

from __future__ import annotations

import json

import numpy as np

from ..data.encoding import cell_text
from ..data.table import MISSING_MARKERS, Cells
from ..errors import MlpError
from ..nn.layers import Dropout, Identity, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from ..version import __version__

OPSET = 21
ML_OPSET = 3
FEATURES = "features"


def _onnx():
    try:
        import onnx
    except ImportError:
        raise MlpError('ONNX export needs the onnx package: pip install -e ".[onnx]"') from None
    return onnx


class GraphBuilder:
    """Nodes, constants and inputs of one graph, each value named once."""

    def __init__(self, onnx, dtype):
        self.onnx, self.helper = onnx, onnx.helper
        self.dtype = np.dtype(dtype)
        self.nodes, self.initializers, self.inputs = [], [], []
        self._count = 0

    def name(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, hint, value, dtype=None):
        array = np.asarray(value, dtype=dtype if dtype is not None else self.dtype)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, hint=None, domain="", **attributes):
        output = self.name(hint or op.lower())
        self.nodes.append(self.helper.make_node(op, list(inputs), [output], domain=domain, **attributes))
        return output

    def input(self, name, element_type, width):
        self.inputs.append(self.helper.make_tensor_value_info(name, element_type, ["N", width]))
        return name

    @property
    def element_type(self):
        return self.helper.np_dtype_to_tensor_dtype(self.dtype)


def _transform(graph: GraphBuilder, transform) -> str:
    """The network's input ``[N, width]`` computed from the graph's inputs."""
    encoding, standardizer, scale = transform.encoding, transform.standardizer, transform.scale
    string = graph.onnx.TensorProto.STRING
    if encoding is None:
        numeric = [graph.input(FEATURES, graph.element_type, transform.width)]
        plans = []
    else:
        numeric, plans = [], encoding.columns
    indicators, onehots = [], []
    for plan in plans:
        if plan.kind == "numeric":
            x = graph.input(plan.name, graph.element_type, 1)
            missing = graph.node("IsNaN", [x], "missing")
            if plan.fill is not None:
                x = graph.node("Where", [missing, graph.constant("fill", [[plan.fill]]), x], "imputed")
            numeric.append(x)
        else:
            cell = graph.input(plan.name, string, 1)
            marks = [graph.node("Equal", [cell, graph.constant("marker", [[m]], object)]) for m in MISSING_MARKERS]
            missing = marks[0]
            for mark in marks[1:]:
                missing = graph.node("Or", [missing, mark], "missing")
            if plan.fill is not None:
                cell = graph.node("Where", [missing, graph.constant("fill", [[plan.fill]], object), cell], "imputed")
            encoded = graph.node(
                "OneHotEncoder", [cell], "onehot", domain="ai.onnx.ml", cats_strings=plan.levels, zeros=1
            )
            onehots.append(graph.node("Cast", [graph.node("Flatten", [encoded], axis=1)], to=graph.element_type))
        if plan.indicator:
            indicators.append(graph.node("Cast", [missing], "indicator", to=graph.element_type))
    parts = []
    if numeric:
        x = numeric[0] if len(numeric) == 1 else graph.node("Concat", numeric, "numeric", axis=1)
        if scale != 1.0:
            x = graph.node("Mul", [x, graph.constant("scale", scale)], "scaled")
        if standardizer is not None:
            x = graph.node("Sub", [x, graph.constant("mean", standardizer.mean)], "centred")
            x = graph.node("Div", [x, graph.constant("std", standardizer.std)], "standardized")
        parts.append(x)
    parts += indicators + onehots
    return parts[0] if len(parts) == 1 else graph.node("Concat", parts, "inputs", axis=1)


ACTIVATIONS = {ReLU: "Relu", Sigmoid: "Sigmoid", Tanh: "Tanh"}


def _layers(graph: GraphBuilder, network, x: str) -> str:
    for index, layer in enumerate(network.layers):
        kind = type(layer)
        if kind is Linear:
            W, b = graph.constant(f"{index}.W", layer.params["W"]), graph.constant(f"{index}.b", layer.params["b"])
            x = graph.node("Gemm", [x, W, b], f"linear{index}", transB=1)
        elif kind is LeakyReLU:
            x = graph.node("LeakyRelu", [x], f"leaky_relu{index}", alpha=float(layer.alpha))
        elif kind in ACTIVATIONS:
            x = graph.node(ACTIVATIONS[kind], [x], f"{ACTIVATIONS[kind].lower()}{index}")
        elif kind not in (Identity, Dropout):
            raise MlpError(
                f"layer {index} ({layer!r}) has no ONNX equivalent in mlp's exporter; only Linear, ReLU, "
                f"LeakyReLU, Sigmoid, Tanh, Identity and Dropout can be exported"
            )
    return x


def _outputs(graph: GraphBuilder, model, logits: str):
    """``[(name, value, element type, width)]`` of the graph's outputs."""
    proto = graph.onnx.TensorProto
    n_outputs = next(layer.out_features for layer in reversed(model.network.layers) if type(layer) is Linear)
    if model.task == "regression":
        values = graph.node("Cast", [logits], "values_double", to=proto.DOUBLE)
        scaler = model.target_scaler
        if scaler is not None:
            values = graph.node("Mul", [values, graph.constant("target_std", scaler.std, np.float64)])
            values = graph.node("Add", [values, graph.constant("target_mean", scaler.mean, np.float64)])
        return [("values", values, proto.DOUBLE, n_outputs)]
    names = graph.constant("class_names", np.array(model.class_names, dtype=object), object)
    if n_outputs == 1:  # one logit: the positive class where it is > 0
        positive = graph.node("Cast", [graph.node("Greater", [logits, graph.constant("zero", [[0]])])], to=proto.INT64)
        index = graph.node("Reshape", [positive, graph.constant("rows", [-1], np.int64)], "index")
    else:
        index = graph.node("ArgMax", [logits], "index", axis=1, keepdims=0)
    outputs: list[tuple[str, str, int, int | None]] = [
        ("label", graph.node("Gather", [names, index], "label"), proto.STRING, None)
    ]
    if model.loss_name == "cross_entropy":
        outputs.append(("probabilities", graph.node("Softmax", [logits], axis=1), graph.element_type, n_outputs))
    elif model.loss_name == "binary_cross_entropy":
        p = graph.node("Sigmoid", [logits], "p")
        both = graph.node("Concat", [graph.node("Sub", [graph.constant("one", [[1]]), p]), p], axis=1)
        outputs.append(("probabilities", both, graph.element_type, 2))
    else:
        outputs.append(("scores", logits, graph.element_type, n_outputs))
    return outputs


def to_onnx(model):
    """The model as a checked ``onnx.ModelProto``; ``MlpError`` for what cannot be expressed."""
    onnx = _onnx()
    graph = GraphBuilder(onnx, model.network.dtype)
    logits = _layers(graph, model.network, _transform(graph, model.transform))
    helper = onnx.helper
    outputs = []
    for name, value, element_type, width in _outputs(graph, model, logits):
        graph.nodes.append(helper.make_node("Identity", [value], [name]))
        outputs.append(helper.make_tensor_value_info(name, element_type, ["N"] if width is None else ["N", width]))
    proto = helper.make_model(
        helper.make_graph(graph.nodes, "mlp", graph.inputs, outputs, graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="mlp",
        producer_version=__version__,
        doc_string=f"{model.task} model trained with mlp ({model.loss_name} loss)",
    )
    metadata = {
        "mlp_version": __version__,
        "task": model.task,
        "loss": model.loss_name,
        "class_names": json.dumps(model.class_names),
        "feature_names": json.dumps(list(model.feature_names)),
        "inputs": json.dumps([value.name for value in graph.inputs]),
    }
    helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def onnx_inputs(model, X) -> dict[str, np.ndarray]:
    """The graph's inputs for raw rows ``X``: an array ``(N, d)``, or a table's
    :class:`~mlp.data.table.Cells` (``mlp.data.datasets.read_feature_rows``) — numbers in the model's
    dtype with NaN where a cell is missing, a categorical column's cells as strings (``""`` missing)."""
    transform, dtype = model.transform, model.network.dtype
    if transform.encoding is None:
        numbers, _ = transform.numbers(X)
        return {FEATURES: np.asarray(numbers, dtype=dtype)}
    cells = X if isinstance(X, Cells) else Cells(np.asarray(X, np.float64), transform.encoding.names)
    position = transform.encoding.positions(cells)
    inputs = {}
    for plan in transform.encoding.columns:
        column = position[plan.name]
        if plan.kind == "numeric":
            inputs[plan.name] = cells.X[:, [column]].astype(dtype)
        else:
            texts = [cell_text(cells, column, row) for row in range(len(cells.X))]
            inputs[plan.name] = np.array([[text or ""] for text in texts], dtype=object)
    return inputs
