"""Minibatches of training rows in a seeded order.

Each epoch draws a fresh permutation of the N rows from the run's shuffle generator; batch ``i`` is
rows ``order[i·B : (i+1)·B]`` (the last, partial batch is kept). Rows are gathered with one
``np.take`` per block of consecutive batches (about ``BLOCK_BYTES`` of features) into a buffer reused
across blocks, and each batch is a contiguous slice of that block: no per-batch copy, and no
per-epoch copy of the training set (the memory budget is the training set plus one block).
Without shuffling, batches are plain slices of the training array. Same generator state → same
order; ``order`` can be saved and passed back to resume mid-epoch.
"""
import numpy as np

BLOCK_BYTES = 4 << 20


class Minibatches:
    """Batches ``(x, y)`` of ``X`` (N, d) and ``y`` (N, …); batch arrays are reused, copy to keep."""

    def __init__(self, X, y, batch_size, rng, shuffle=True):
        self.X, self.y = X, y
        self.n = len(X)
        self.batch_size = min(int(batch_size), self.n)
        self.rng = rng
        self.shuffle = shuffle
        if shuffle:
            row_bytes = max(X[:1].nbytes, 1)
            per_block = max(BLOCK_BYTES // (row_bytes * self.batch_size), 1)
            self.block_rows = min(per_block * self.batch_size, self.n)
            self._block = np.empty((self.block_rows,) + X.shape[1:], dtype=X.dtype)

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
        first = start * size
        for block_lo in range(first, self.n, self.block_rows):
            block_hi = min(block_lo + self.block_rows, self.n)
            rows = order[block_lo:block_hi]
            block = np.take(self.X, rows, axis=0, out=self._block[:block_hi - block_lo], mode="clip")
            labels = self.y[rows]
            for lo in range(0, block_hi - block_lo, size):
                yield (block_lo + lo) // size, block[lo:lo + size], labels[lo:lo + size]
