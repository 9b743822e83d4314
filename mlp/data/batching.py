"""Minibatches of training rows in a seeded order.

Each epoch draws a fresh permutation of the N rows from the run's shuffle generator; batch ``i`` is
rows ``order[i·B : (i+1)·B]`` (the last, partial batch is kept). Rows are gathered with one
``np.take`` per block of consecutive batches (about ``BLOCK_BYTES`` of features) into a buffer reused
across blocks, and each batch is a contiguous slice of that block: no per-batch copy, and no
per-epoch copy of the training set (the memory budget is the training set plus two blocks).
With ``prefetch``, a helper thread gathers the next block while the batches of the current one are
trained on (``np.take`` releases the GIL while it copies); the batches are the same either way.
Without shuffling, batches are plain slices of the training array. Same generator state → same
order; ``order`` can be saved and passed back to resume mid-epoch.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import kernels
from .transform import ScaledRows

BLOCK_BYTES = 4 << 20


def worth_prefetching(row_bytes, n_parameters):
    """Whether gathering rows is a large enough share of an epoch to be worth a helper thread.

    Training costs about six multiply-adds per parameter and row (forward, ∇W, ∇h), gathering a
    row costs its bytes. Above 0.05 byte per parameter (MNIST's 784-16-16-10 network has 0.25) the
    gather is a sizeable part of the epoch and overlapping it pays; for bigger networks (MNIST's
    784-256-256-10 has 0.012) the helper thread would only compete with the two-threaded matrix
    products.
    """
    return row_bytes / max(n_parameters, 1) > 0.05


class Minibatches:
    """Batches ``(x, y)`` of ``X`` (N, d) and ``y`` (N, …); batch arrays are reused, copy to keep."""

    def __init__(self, X, y, batch_size, rng, shuffle=True, prefetch=False):
        self.X, self.y = X, y
        # rows kept as small integers (ScaledRows) are cast and scaled as they are gathered
        self._source, self._factor = (X.raw, X.factor) if isinstance(X, ScaledRows) else (X, None)
        self.n = len(X)
        self.batch_size = min(int(batch_size), self.n)
        self.rng = rng
        self.shuffle = shuffle
        self.prefetch = False  # unshuffled batches are slices: nothing to gather
        if shuffle:
            row_bytes = max(X[:1].nbytes, 1)
            per_block = max(BLOCK_BYTES // (row_bytes * self.batch_size), 1)
            self.block_rows = min(per_block * self.batch_size, self.n)
            self.prefetch = prefetch and self.block_rows < self.n
            self._blocks = [
                np.empty((self.block_rows,) + X.shape[1:], dtype=X.dtype) for _ in range(2 if self.prefetch else 1)
            ]

    def __len__(self):
        return -(-self.n // self.batch_size)

    def draw_order(self):
        """The row order of the next epoch (``None`` without shuffling)."""
        return self.rng.permutation(self.n) if self.shuffle else None

    def batches(self, order, start=0):
        """Yield ``(index, x, y)`` for batches ``start, start + 1, …`` of an epoch in ``order``."""
        size = self.batch_size
        if order is None:
            for index in range(start, len(self)):
                lo, hi = index * size, min((index + 1) * size, self.n)
                yield index, self.X[lo:hi], self.y[lo:hi]
            return
        block_starts = range(start * size, self.n, self.block_rows)
        if not self.prefetch:
            for block_lo in block_starts:
                yield from self._split(block_lo, *self._gather(order, block_lo, self._blocks[0]))
            return
        with ThreadPoolExecutor(1, thread_name_prefix="mlp-gather") as helper:
            pending = helper.submit(self._gather, order, block_starts[0], self._blocks[0])
            for number, block_lo in enumerate(block_starts):
                block, labels = pending.result()
                if number + 1 < len(block_starts):
                    pending = helper.submit(
                        self._gather, order, block_starts[number + 1], self._blocks[(number + 1) % 2]
                    )
                yield from self._split(block_lo, block, labels)

    def rows_of(self, order, index):
        """The training rows of batch ``index`` of an epoch in ``order``."""
        lo, hi = index * self.batch_size, min((index + 1) * self.batch_size, self.n)
        return np.arange(lo, hi) if order is None else order[lo:hi]

    def _gather(self, order, block_lo, buffer):
        """Rows ``order[block_lo : block_lo + block_rows]`` of ``X`` into ``buffer``, and their labels."""
        rows = order[block_lo : block_lo + self.block_rows]
        return kernels.gather_rows(self._source, rows, buffer, self._factor), self.y[rows]

    def _split(self, block_lo, block, labels):
        size = self.batch_size
        for lo in range(0, len(block), size):
            yield (block_lo + lo) // size, block[lo : lo + size], labels[lo : lo + size]
