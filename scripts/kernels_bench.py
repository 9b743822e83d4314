"""Microseconds per call of each element-wise kernel, NumPy reference against numba's fused version,
at the batch shapes of the bench's workloads (needs the ``fast`` extra).

    python scripts/kernels_bench.py [--repeat 7] [--number 200]

Each row: the kernel, the shape, the median over ``--repeat`` timings of ``--number`` calls (µs a
call) for both versions and their ratio (fused ÷ NumPy). The pairs ``bias_relu`` and
``relu_backward_sums`` are also timed against the two single kernels they replace (``add_bias`` then
``relu``; ``relu_backward`` then ``column_sums``), in the fused version. Last, the NumPy reference's
``column_sums`` (1ᵀg, a BLAS matrix-vector product) against ``np.add.reduce(g, axis=0)``, at every
workload's batch shapes (hidden and output layers). Inputs that a kernel
overwrites are copied in every call, in every row that times it, so the copy is part of each figure
alike. Single-threaded, hot in cache: what a kernel costs inside an epoch also depends on what the
matrix products left in the caches (see ``scripts/bench.py --profile``).
"""

import argparse
import statistics
import timeit

import numpy as np

from mlp import kernels

SHAPES = {"W2 hidden (128 × 256)": (128, 256), "W3 hidden (256 × 1024)": (256, 1024)}
SUM_SHAPES = [(32, 16), (32, 10), (128, 256), (128, 10), (256, 1024), (256, 10)]  # W1, W2, W3: hidden, output


def cases(version, a, b, g, h, sums):
    """``(name, zero-argument call)`` for every kernel of ``version`` the hot loop runs per batch."""
    return [
        ("add_bias (on a copy)", lambda: version.add_bias(a.copy(), b)),
        ("relu", lambda: version.relu(a)),
        ("bias_relu (on a copy)", lambda: version.bias_relu(a.copy(), b)),
        ("relu_backward", lambda: version.relu_backward(g, h)),
        ("column_sums", lambda: version.column_sums(g, sums)),
        ("relu_backward_sums", lambda: version.relu_backward_sums(g, h, sums)),
        ("tanh", lambda: version.tanh(a)),
        ("sigmoid", lambda: version.sigmoid(a)),
    ]


def timed(call, repeat, number):
    call()  # compile, or load from numba's cache
    return statistics.median(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=200)
    args = parser.parse_args()
    fused = kernels.fused()
    rng = np.random.default_rng(0)
    arrays = {}
    for label, shape in SHAPES.items():
        a = rng.standard_normal(shape).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        arrays[label] = (a, rng.standard_normal(shape[1]).astype(np.float32), g, np.maximum(a, 0))
    print("| kernel | shape | NumPy (µs) | fused (µs) | fused ÷ NumPy |")
    print("| --- | --- | --- | --- | --- |")
    for label, (a, b, g, h) in arrays.items():
        sums = np.empty(len(b), np.float32)
        reference = cases(kernels.Reference, a, b, g, h, sums)
        compiled = cases(fused, a, b, g, h, sums)
        for (name, slow), (_, fast) in zip(reference, compiled):
            numpy_us, fused_us = timed(slow, args.repeat, args.number), timed(fast, args.repeat, args.number)
            print(f"| {name} | {label} | {numpy_us:.1f} | {fused_us:.1f} | {fused_us / numpy_us:.2f} |", flush=True)
    print("\n| fused pair | shape | two kernels (µs) | one pass (µs) | one ÷ two |")
    print("| --- | --- | --- | --- | --- |")
    for label, (a, b, g, h) in arrays.items():
        sums = np.empty(len(b), np.float32)

        def add_then_relu(a=a, b=b):
            biased = a.copy()
            fused.add_bias(biased, b)
            return fused.relu(biased)

        pairs = [
            ("add_bias, relu → bias_relu", add_then_relu, lambda a=a, b=b: fused.bias_relu(a.copy(), b)),
            (
                "relu_backward, column_sums → relu_backward_sums",
                lambda g=g, h=h, sums=sums: fused.column_sums(fused.relu_backward(g, h), sums),
                lambda g=g, h=h, sums=sums: fused.relu_backward_sums(g, h, sums),
            ),
        ]
        for name, apart, paired in pairs:
            two, one = timed(apart, args.repeat, args.number), timed(paired, args.repeat, args.number)
            print(f"| {name} | {label} | {two:.1f} | {one:.1f} | {one / two:.2f} |", flush=True)
    print("\n| column sums, float32 | np.add.reduce(g, axis=0) (µs) | NumPy's column_sums, 1ᵀg (µs) | ratio |")
    print("| --- | --- | --- | --- |")
    for shape in SUM_SHAPES:
        g, sums = rng.standard_normal(shape).astype(np.float32), np.empty(shape[1], np.float32)
        reduced = timed(lambda g=g, sums=sums: np.add.reduce(g, axis=0, out=sums), args.repeat, args.number)
        product = timed(lambda g=g, sums=sums: kernels.Reference.column_sums(g, sums), args.repeat, args.number)
        print(f"| {shape[0]} × {shape[1]} | {reduced:.1f} | {product:.1f} | {product / reduced:.2f} |", flush=True)


if __name__ == "__main__":
    main()
