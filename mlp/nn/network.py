"""``Sequential``: layers applied in order, Algorithm 6.3 forward and Algorithm 6.4 backward; and
:class:`Architecture`, the one description of the multi-layer perceptron a config or a model file
names, from which every network of a run is built.

The parameters of all layers live in one contiguous vector (``flat_params``) and their gradients in
another (``flat_grads``); each layer's ``params[name]`` and ``grads[name]`` are views into them.
An optimizer given the whole network updates every parameter with a few vector operations instead
of a few per array. Take references to a layer's arrays after building the ``Sequential``: building
it moves them into the shared vector. A layer's ``buffers`` (state that is not trained) stay its
own arrays; ``state_dict`` holds them beside the parameters.

A :class:`~mlp.nn.layers.Linear` followed by a ReLU or LeakyReLU runs as one pair: the activation
adds the bias while it computes ``f(a)`` (``bias_relu``) and sums ``∇b`` while it computes
``g ⊙ f'`` (``relu_backward_sums``), one pass over the batch each way instead of two; the results are
those of the two layers run one by one.
"""

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import cast

import numpy as np

from ..errors import ContractError
from .layers import FLOAT_DTYPES, Dropout, Layer, LeakyReLU, Linear, ReLU, get_activation

BIAS_TAKING = (ReLU, LeakyReLU)  # activations that add the bias of the Linear below in their own pass


class _LinearActivation:
    """A Linear and the ReLU or LeakyReLU above it as one step of a :class:`Sequential`."""

    def __init__(self, linear: Linear, activation: ReLU | LeakyReLU):
        self.linear, self.activation = linear, activation

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """f(h Wᵀ + b), the bias added in the activation's pass."""
        linear = self.linear
        return self.activation.forward_biased(linear.product(x, training), linear.params["b"], training)

    def backward(self, g: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """g ⊙ f' and the Linear's ∇b = Σ_n g[n] in one pass, then ∇W and dJ/dh."""
        linear = self.linear
        return linear.product_backward(self.activation.backward_summed(g, linear.grads["b"]), input_grad)


class Sequential:
    """A stack of layers; ``forward`` chains them, ``backward`` runs them in reverse.

    Shape: input ``(N, d_in)`` → output ``(N, d_out)`` of the last layer.
    """

    def __init__(self, layers: Iterable[Layer]):
        self.layers = list(layers)
        for index, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"Sequential: item {index} is {layer!r}, not an mlp layer")
        self._steps = self._pair_steps(self.layers)
        self._gather_parameters()

    @staticmethod
    def _pair_steps(layers) -> list[Layer | _LinearActivation]:
        """The layers, a Linear followed by a ReLU or LeakyReLU as one :class:`_LinearActivation`
        (exact types: a subclass may have changed forward or backward)."""
        steps: list[Layer | _LinearActivation] = []
        index = 0
        while index < len(layers):
            layer, above = layers[index], layers[index + 1] if index + 1 < len(layers) else None
            if type(layer) is Linear and type(above) in BIAS_TAKING:
                steps.append(_LinearActivation(layer, cast(ReLU | LeakyReLU, above)))
                index += 2
            else:
                steps.append(layer)
                index += 1
        return steps

    def _gather_parameters(self):
        arrays = [layer.params[name] for layer in self.layers for name in layer.params]
        dtypes = {array.dtype for array in arrays}
        if len(dtypes) > 1:
            raise ValueError(f"Sequential: all layers must share one dtype, got {sorted(map(str, dtypes))}")
        self.dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        if self.dtype not in FLOAT_DTYPES:
            raise ValueError(f"Sequential: parameters must be float32 or float64, got {self.dtype}")
        total = sum(array.size for array in arrays)
        self.flat_params = np.empty(total, dtype=self.dtype)
        self.flat_grads = np.zeros(total, dtype=self.dtype)
        # (layer index, name, param view, grad view) of the layers whose backward is not the
        # package's own: what they must keep (Linear writes in place, tests/nn/test_contract.py)
        self._watched = []
        offset = 0
        for index, layer in enumerate(self.layers):
            for name, array in layer.params.items():
                size = array.size
                param = self.flat_params[offset : offset + size].reshape(array.shape)
                param[...] = array
                layer.params[name] = param
                layer.grads[name] = self.flat_grads[offset : offset + size].reshape(array.shape)
                if type(layer) is not Linear:
                    self._watched.append((index, name, param, layer.grads[name]))
                offset += size

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """Output of the network for a batch ``x`` of shape ``(N, d_in)``."""
        for step in self._steps:
            x = step.forward(x, training)
        return x

    def backward(self, g: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate ``g = dJ/d(output)``; fill every layer's ``grads``; return dJ/dx.

        With ``input_grad=False`` the first layer skips dJ/dx and ``None`` is returned.
        """
        steps = self._steps
        if not steps:  # no layers: the identity
            return g if input_grad else None
        for number in range(len(steps) - 1, 0, -1):
            below = steps[number].backward(g, True)
            if below is None:
                raise ContractError(
                    f"{type(steps[number]).__name__}.backward(g, input_grad=True) returned None: it must return "
                    f"dJ/d(input), the gradient the layer below it needs"
                )
            g = below
        gradient = steps[0].backward(g, input_grad)
        if self._watched:
            self._check_views()
        return gradient

    def _check_views(self):
        """:class:`ContractError` if a layer replaced one of its ``params``/``grads`` arrays: the
        network's flat vectors (which the optimizer updates) would no longer see it."""
        for index, name, param, grad in self._watched:
            layer = self.layers[index]
            for kind, kept in (("grads", grad), ("params", param)):
                if getattr(layer, kind).get(name) is not kept:
                    what = f"layer {index} ({type(layer).__name__}): backward replaced {kind}[{name!r}] by a new array"
                    raise ContractError(
                        f"{what}, so the optimizer, which updates the network's arrays, never sees it. Write into "
                        f"the array instead: self.{kind}[{name!r}][...] = <the value> (or np.matmul(..., out=...))"
                    )

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Output for many rows, evaluated in chunks without caching (``training=False``)."""
        x = np.asarray(x)
        chunks = [self.forward(x[start : start + batch_size], training=False) for start in range(0, len(x), batch_size)]
        return np.concatenate(chunks) if chunks else self.forward(x, training=False)

    def parameters(self):
        """Yield ``(key, param, grad)`` with keys ``"<layer index>.<param name>"``."""
        for index, layer in enumerate(self.layers):
            for name, param in layer.params.items():
                yield f"{index}.{name}", param, layer.grads[name]

    def buffers(self):
        """Yield ``(key, array)`` for every layer's non-trainable state, keyed like the parameters."""
        for index, layer in enumerate(self.layers):
            for name, array in getattr(layer, "buffers", {}).items():
                yield f"{index}.{name}", array

    def weights(self):
        """Yield ``(key, W, grad)`` for the parameters a regularizer covers (weights, not biases)."""
        for index, layer in enumerate(self.layers):
            for name in getattr(layer, "regularized", ()):
                yield f"{index}.{name}", layer.params[name], layer.grads[name]

    def num_parameters(self) -> int:
        return int(self.flat_params.size)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of all parameters and buffers, keyed ``"<layer index>.<name>"`` (e.g. ``"0.W"``)."""
        state = {key: param.copy() for key, param, _ in self.parameters()}
        state.update((key, array.copy()) for key, array in self.buffers())
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` into the parameters and buffers in place; strict about keys and shapes.

        A missing or unexpected key, or a shape mismatch, raises ``ValueError`` naming the key (and
        both shapes); nothing is changed unless every entry fits.
        """
        own = {key: param for key, param, _ in self.parameters()}
        own.update(self.buffers())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing:
            raise ValueError(f"load_state_dict: missing key {missing[0]!r} (missing: {missing})")
        if unexpected:
            raise ValueError(f"load_state_dict: unexpected key {unexpected[0]!r} (unexpected: {unexpected})")
        values = {}
        for key, param in own.items():
            value = np.asarray(state[key])
            if value.shape != param.shape:
                raise ValueError(
                    f"load_state_dict: key {key!r} has shape {value.shape} in the state dict, "
                    f"but the model expects shape {param.shape}"
                )
            values[key] = value
        for key, param in own.items():
            np.copyto(param, values[key], casting="unsafe")

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}])"


@dataclass(frozen=True)
class Architecture:
    """A multi-layer perceptron: ``[Dropout →]`` then ``Linear → activation [→ Dropout]`` per hidden
    width, then ``Linear`` to ``n_outputs``.

    The input width comes from the data and the output width from the task; the rest from the
    config's ``model`` section. Model files store it as a JSON object (:meth:`to_dict`).
    """

    input_width: int
    hidden: list = field(default_factory=list)
    n_outputs: int = 1
    activation: str = "relu"
    dropout: float = 0.0
    input_dropout: float = 0.0
    init: str = "he"
    dtype: str = "float32"

    def plan(self):
        """The layers in order, without building any: ``("dropout", p)``, ``("linear", d_in, d_out)``
        or ``("activation", name)``."""
        steps: list[tuple] = [("dropout", self.input_dropout)] if self.input_dropout > 0 else []
        widths = [self.input_width, *self.hidden]
        for d_in, d_out in zip(widths[:-1], widths[1:]):
            steps += [("linear", d_in, d_out), ("activation", self.activation)]
            steps += [("dropout", self.dropout)] if self.dropout > 0 else []
        return [*steps, ("linear", widths[-1], self.n_outputs)]

    def num_parameters(self) -> int:
        """Weights and biases of every linear layer, counted without building the network."""
        return sum(step[1] * step[2] + step[2] for step in self.plan() if step[0] == "linear")

    def summary(self):
        """Rows ``(index, layer, output width, parameter count)`` of the network, nothing allocated."""
        rows, width = [], self.input_width
        for index, step in enumerate(self.plan()):
            if step[0] == "linear":
                width = step[2]
                rows.append((index, f"Linear({step[1]} → {step[2]})", width, step[1] * step[2] + step[2]))
            else:
                layer = get_activation(step[1]) if step[0] == "activation" else Dropout(step[1])
                rows.append((index, repr(layer), width, 0))
        return rows

    def build(
        self, rng: np.random.Generator | None = None, dropout_rng: np.random.Generator | None = None
    ) -> Sequential:
        """The :class:`Sequential` network, weights drawn from ``rng``.

        ``dropout_rng`` draws every dropout layer's masks (one stream shared by them all, so saving
        its state saves every mask to come).
        """
        rng = np.random.default_rng() if rng is None else rng
        dtype = np.dtype(self.dtype)
        layers: list[Layer] = []
        for step in self.plan():
            if step[0] == "linear":
                layers.append(Linear(step[1], step[2], init=self.init, dtype=dtype, rng=rng))
            elif step[0] == "activation":
                layers.append(get_activation(step[1]))
            else:
                layers.append(Dropout(step[1], rng=dropout_rng))
        return Sequential(layers)

    def to_dict(self):
        return asdict(self)
