"""Minibatches of training rows in a seeded order.

Each epoch draws a fresh permutation of the N rows from the run's shuffle generator; batch ``i`` is
rows ``order[i·B : (i+1)·B]`` (the last, partial batch is kept). The rows of a batch are gathered with
one ``np.take`` into a buffer reused across batches (targets, being small, by plain indexing), so no per-epoch copy of the training set is held
(the memory budget is the training set plus a batch). Without shuffling, batches are plain slices.
Same generator state → same order; ``order`` can be saved and passed back to resume mid-epoch.
"""
import numpy as np


class Minibatches:
    """Batches ``(x, y)`` of ``X`` (N, d) and ``y`` (N, …); batch arrays are reused, copy to keep."""

    def __init__(self, X, y, batch_size, rng, shuffle=True):
        self.X, self.y = X, y
        self.n = len(X)
        self.batch_size = min(int(batch_size), self.n)
        self.rng = rng
        self.shuffle = shuffle
        if shuffle:
            self._x = np.empty((self.batch_size,) + X.shape[1:], dtype=X.dtype)

    def __len__(self):
        return -(-self.n // self.batch_size)

    def draw_order(self):
        """The row order of the next epoch (``None`` without shuffling)."""
        return self.rng.permutation(self.n) if self.shuffle else None

    def batches(self, order, start=0):
        """Yield ``(index, x, y)`` for batches ``start, start + 1, …`` of an epoch in ``order``."""
        size = self.batch_size
        for index in range(start, len(self)):
            lo, hi = index * size, min((index + 1) * size, self.n)
            if order is None:
                yield index, self.X[lo:hi], self.y[lo:hi]
            else:
                rows = order[lo:hi]
                count = hi - lo
                x = np.take(self.X, rows, axis=0, out=self._x[:count], mode="clip")
                yield index, x, self.y[rows]
