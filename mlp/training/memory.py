"""What training a network needs in memory, estimated before anything is allocated.

    bytes ≈ P · s · (parameters + gradients + optimizer buffers + optimizer scratch
                     + best weights + checkpoint copies)
            + B · Σ widths · s · 4          (a batch's activations, their gradients, masks)
            + 8 · max(d_in · d_out)          (the float64 draw of the largest initial weight matrix)

with P the parameter count, s the bytes per number (4 for float32), B the batch size. The data
is already loaded when this is asked, so it is counted as used, not needed. A network whose
estimate exceeds the memory the system reports available is refused before it is built, with the
estimate in the message, instead of being killed by the kernel part-way.
"""

import numpy as np

from ..errors import ConfigError
from ..io.files import available_memory, human_size

# buffers each optimizer keeps besides the parameters and gradients (momentum, Adam's moments, …)
OPTIMIZER_BUFFERS = {
    "sgd": lambda o: 1 if o["momentum"] > 0 else 0,
    "adam": lambda o: 3,
    "adamw": lambda o: 3,
    "rmsprop": lambda o: 2 if o["momentum"] > 0 else 1,
}


def training_bytes(architecture, config) -> int:
    """Estimated peak bytes of training ``architecture`` as ``config`` says (see the module's formula)."""
    size = np.dtype(architecture.dtype).itemsize
    optimizer = config.optimizer
    buffers = OPTIMIZER_BUFFERS[optimizer.name](optimizer.options)
    copies = 2 + buffers + 1 + 1 + (1 + buffers)  # params, grads, buffers, scratch, best, checkpoint
    linears = [step for step in architecture.plan() if step[0] == "linear"]
    widths = sum(step[2] for step in linears) + architecture.input_width
    batch = config.training.batch_size
    largest = max(step[1] * step[2] for step in linears)
    return architecture.num_parameters() * size * copies + batch * widths * size * 4 + 8 * largest


def check_fits(architecture, config):
    """``ConfigError`` with the estimate when training would need more memory than is available."""
    needed, available = training_bytes(architecture, config), available_memory()
    if available is not None and needed > available:
        raise ConfigError(
            f"model.hidden {architecture.hidden}: training this network needs about {human_size(needed)} "
            f"({architecture.num_parameters():,} parameters with their gradients, optimizer state, best "
            f"weights and checkpoint copies, and a batch's activations), more than the {human_size(available)} "
            f"of memory available; use smaller model.hidden (or training.batch_size)"
        )
    return needed
