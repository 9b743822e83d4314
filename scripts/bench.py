"""Epoch time of mlp, PyTorch, scikit-learn, plain NumPy loops and the GEMMs alone, in one process.

    python scripts/bench.py [--rounds 5] [--workloads W1,W2,W3]
                            [--contenders mlp,fast,pytorch,sklearn,numpy,blas,gemm] [--json out.json]
                            [--profile [--kernels numpy|numba]]
    python scripts/bench.py --diagnostics [--rounds 7] [--workloads W1,W2,W3]
    python scripts/bench.py --per-batch [--rounds 21] [--workloads W1]

Each workload trains one epoch of MNIST (60000 × 784, float32, ReLU, cross-entropy):
W1 784-16-16-10 batch 32 plain SGD; W2 784-256-256-10 batch 128 SGD momentum 0.9;
W3 784-1024-1024-10 batch 256 SGD momentum 0.9. mlp runs through the trainer's own epoch loop
(minibatches, forward, loss, backward, optimizer) with the NumPy reference kernels ("mlp", the
default install) and with numba's fused kernels ("mlp (fast)", the ``fast`` extra); the plain NumPy loop is the same training
written by hand as leanly as NumPy allows (the difference is what mlp's layers, checks and
bookkeeping cost); "update in BLAS" folds that loop's optimizer into sgemm/saxpy calls of the
OpenBLAS NumPy ships (what fusing the update buys at best). All contenders use 2 BLAS threads; after a warm-up they run in interleaved
rounds (A B C D A B C D …). Reported: the machine (CPU model, BLAS and its kernel as threadpoolctl
reads them, library versions), then per workload the median epoch time, min–max, the ratios to
PyTorch, to the plain NumPy loop and to the GEMMs alone taken pair by pair within each round
(median), GFLOP/s of the epoch's matrix
products, and how far the process's resident memory grew above its level at the start of the
contender's epochs (the kernel's high-water mark, Linux only). A contender that is not
installed (or a BLAS not found) is reported as absent. ``--profile`` prints where mlp's epoch time goes instead.
``--diagnostics`` measures what the training diagnostics cost: two trainers of the same workload with
MNIST's default 10% validation split, one with the diagnostics callback and one without, their
epochs (validation included) run in rounds whose order alternates; it prints the median same-round
ratio and the share of the epoch spent inside the callback's hooks.
``--per-batch`` measures what mlp adds per batch: mlp (each kernel version) and the plain NumPy loop
train on MNIST's first 2048 rows only, hot in cache, epoch after epoch in rounds, and it prints each
contender's fastest epoch in µs per batch and its ratio to the loop's fastest. The minimum cuts the
machine's noise, which only ever adds time; the small set leaves out the gather from the full set
(where mlp's blocks of rows are ahead of the loop's per-batch gather).
"""

import argparse
import json
import os
import platform
import statistics
import time
import warnings

import numpy as np

CONTENDERS = {
    "mlp": "mlp",
    "fast": "mlp (fast)",
    "pytorch": "pytorch",
    "sklearn": "scikit-learn",
    "numpy": "plain NumPy loop",
    "blas": "NumPy loop, update in BLAS",
    "gemm": "GEMMs alone",
}
WORKLOADS = {
    "W1": {"hidden": [16, 16], "batch": 32, "momentum": 0.0, "lr": 0.05},
    "W2": {"hidden": [256, 256], "batch": 128, "momentum": 0.9, "lr": 0.05},
    "W3": {"hidden": [1024, 1024], "batch": 256, "momentum": 0.9, "lr": 0.05},
}


class PeakMemory:
    """Growth (MB) of the resident set's high-water mark above the resident size at entry.

    Linux keeps the peak itself (``VmHWM``); writing 5 to ``/proc/self/clear_refs`` resets it, so no
    sampling thread competes with the contender for the two cores. Elsewhere ``growth`` is None.
    """

    def __enter__(self):
        self.growth = None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.start = self._status("VmRSS")
        except OSError:
            self.start = None
        return self

    @staticmethod
    def _status(field):
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith(field + ":"))
        return int(line.split()[1]) / 1024

    def __exit__(self, *exc):
        if self.start is not None:
            self.growth = self._status("VmHWM") - self.start


def epoch_flops(n, sizes):
    """Multiply-adds ×2 of an epoch: forward, ∇W, and ∇h for every layer but the first."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    products = sum(3 * a * b for a, b in pairs) - pairs[0][0] * pairs[0][1]
    return 2.0 * n * products


# ----------------------------------------------------------------------------- contenders


def mlp_contender(spec, validation=0.0, callbacks=(), kernels="numpy"):
    """One epoch of mlp's own trainer (``Trainer.run_epoch``) with ``kernels``, no validation split."""
    from mlp.config import resolve
    from mlp.training.experiment import build_experiment
    from mlp.training.trainer import Trainer

    config = resolve(
        {
            "data": {"name": "mnist", "validation_split": validation},
            "model": {"hidden": spec["hidden"], "activation": "relu"},
            "loss": {"name": "cross_entropy"},
            "optimizer": {"name": "sgd", "lr": spec["lr"], "momentum": spec["momentum"]},
            "training": {"epochs": 1000, "batch_size": spec["batch"], "kernels": kernels},
        }
    )
    trainer = Trainer(build_experiment(config), callbacks)
    for callback in trainer.callbacks:
        callback.on_train_begin(trainer)
    return trainer.run_epoch


def per_batch_cost(names, rounds, rows=2048):
    """µs per batch of mlp's trainer and of the plain NumPy loop on the first ``rows`` rows, hot."""
    from mlp.data.datasets import load_builtin

    data = load_builtin("mnist")
    raw, labels = data.X[:rows], data.y[:rows]
    X, y = raw.astype(np.float32) / np.float32(255), labels.astype(np.int64)
    versions = {"mlp": "numpy", "fast": "numba"} if available("numba") else {"mlp": "numpy"}
    for name in names:
        spec = WORKLOADS[name]
        epochs = {}
        for contender, kernels in versions.items():
            epoch = mlp_contender(spec, kernels=kernels)
            epoch.__self__.set_rows(raw, labels)
            epochs[CONTENDERS[contender]] = epoch
        epochs[CONTENDERS["numpy"]] = numpy_contender(spec, X, y)
        fastest = dict.fromkeys(epochs, float("inf"))
        for epoch in epochs.values():
            epoch()
        for _ in range(rounds):
            for label, epoch in epochs.items():
                started = time.perf_counter()
                epoch()
                fastest[label] = min(fastest[label], time.perf_counter() - started)
        batches, loop = -(-rows // spec["batch"]), fastest[CONTENDERS["numpy"]]
        print(f"\n{name}: µs per batch, {rows} rows hot in cache, fastest of {rounds} rounds")
        for label, seconds in fastest.items():
            print(f"  {label:<18} {seconds / batches * 1e6:8.1f} µs   ÷ plain NumPy loop {seconds / loop:.3f}")


def diagnostics_cost(names, rounds):
    """The diagnostics' cost two ways: the median same-round ratio of an epoch with the callback to
    one without (the order alternating round by round), and the time spent inside the callback's
    hooks as a share of the epoch (immune to the machine's noise)."""
    from mlp.training.diagnostics import Diagnostics

    class Timed(Diagnostics):
        spent = 0.0

        def _timed(self, hook, *args):
            started = time.perf_counter()
            hook(self, *args)
            Timed.spent += time.perf_counter() - started

        def on_epoch_begin(self, trainer):
            self._timed(Diagnostics.on_epoch_begin, trainer)

        def on_before_step(self, trainer, index):
            self._timed(Diagnostics.on_before_step, trainer, index)

        def on_batch_end(self, trainer, index):
            self._timed(Diagnostics.on_batch_end, trainer, index)

        def on_epoch_end(self, trainer, record):
            self._timed(Diagnostics.on_epoch_end, trainer, record)

    for name in names:
        spec = WORKLOADS[name]
        plain, diagnosed = mlp_contender(spec, 0.1), mlp_contender(spec, 0.1, [Diagnostics()])
        plain(), diagnosed()  # warm-up
        ratios, times = [], []
        for round_ in range(rounds):
            pair = {}
            for label, epoch in (("plain", plain), ("diagnosed", diagnosed))[:: 1 if round_ % 2 == 0 else -1]:
                started = time.perf_counter()
                epoch()
                pair[label] = time.perf_counter() - started
            ratios.append(pair["diagnosed"] / pair["plain"])
            times.append(pair)
        # The hooks' own time, from one more epoch with them timed (the timing itself adds a little).
        timed = mlp_contender(spec, 0.1, [Timed()])
        timed()
        Timed.spent, started = 0.0, time.perf_counter()
        timed()
        share = Timed.spent / (time.perf_counter() - started)
        print(
            f"{name}: epoch {statistics.median(t['plain'] for t in times):.3f} s without diagnostics, "
            f"{statistics.median(t['diagnosed'] for t in times):.3f} s with; median same-round ratio "
            f"{statistics.median(ratios):.4f} (rounds: {', '.join(f'{r:.3f}' for r in ratios)}); "
            f"time inside the callback's hooks: {100 * share:.2f}% of an epoch",
            flush=True,
        )


def torch_contender(spec, X, y):
    import torch

    torch.set_num_threads(2)
    sizes = [784, *spec["hidden"], 10]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    optimizer = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    batch = spec["batch"]

    def epoch():
        order = torch.randperm(len(Xt))
        for start in range(0, len(Xt), batch):
            rows = order[start : start + batch]
            optimizer.zero_grad()
            loss = loss_fn(model(Xt[rows]), yt[rows])
            loss.backward()
            optimizer.step()

    return epoch


def sklearn_contender(spec, X, y):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def epoch():
        model = MLPClassifier(
            hidden_layer_sizes=spec["hidden"],
            solver="sgd",
            batch_size=spec["batch"],
            learning_rate_init=spec["lr"],
            momentum=spec["momentum"],
            nesterovs_momentum=False,
            alpha=0.0,
            max_iter=1,
            shuffle=True,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)

    return epoch


def numpy_contender(spec, X, y, blas=None):
    """The same training as a careful hand-written NumPy loop, as lean as NumPy allows.

    One flat parameter vector and one flat gradient vector, every activation and gradient in a
    buffer reused across batches (``out=``), ReLU in place, softmax and cross-entropy's gradient in
    one buffer, the first layer's input gradient skipped, the momentum update in place. No layer
    objects, no input checks, no loss value and no finite check: the floor of a NumPy design.

    With ``blas`` (see :func:`bundled_blas`) the optimizer is folded into BLAS calls NumPy does not
    expose: each ∇W product accumulates straight into the velocity (``v ← μ·v + gᵀh``, one sgemm
    with β = μ) and the step is one saxpy (``θ ← θ − lr·v``): what fusing the update costs at best.
    """
    sizes = [784, *spec["hidden"], 10]
    batch, lr, momentum = spec["batch"], np.float32(spec["lr"]), np.float32(spec["momentum"])
    rng = np.random.default_rng(0)
    shapes = [shape for a, b in zip(sizes[:-1], sizes[1:]) for shape in ((b, a), (b,))]
    offsets = np.cumsum([0] + [int(np.prod(shape)) for shape in shapes])
    params, grads = np.zeros(offsets[-1], np.float32), np.zeros(offsets[-1], np.float32)
    velocity, step = np.zeros_like(params), np.empty_like(params)

    def views(flat):
        blocks = [flat[lo:hi].reshape(shape) for lo, hi, shape in zip(offsets[:-1], offsets[1:], shapes)]
        return blocks[0::2], blocks[1::2]

    Ws, bs = views(params)
    gWs, gbs = views(grads)
    vWs, vbs = views(velocity)
    for W in Ws:
        W[:] = rng.standard_normal(W.shape, dtype=np.float32) * np.float32(np.sqrt(2 / W.shape[1]))
    xs = np.empty((batch, sizes[0]), np.float32)
    acts = [np.empty((batch, s), np.float32) for s in sizes[1:]]
    backs = [np.empty((batch, s), np.float32) for s in sizes[1:-1]]

    def epoch():
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch):
            rows = order[start : start + batch]
            n = len(rows)
            h = np.take(X, rows, axis=0, out=xs[:n])
            hs = [h]
            for k, (W, b) in enumerate(zip(Ws, bs)):
                a = np.matmul(hs[-1], W.T, out=acts[k][:n])
                a += b
                if k < len(Ws) - 1:
                    np.maximum(a, 0, out=a)
                hs.append(a)
            g = hs[-1]  # softmax, then (p - onehot(y)) / n, in place
            g -= g.max(axis=1, keepdims=True)
            np.exp(g, out=g)
            g /= g.sum(axis=1, keepdims=True) * np.float32(n)
            g[np.arange(n), y[rows]] -= np.float32(1 / n)
            for k in range(len(Ws) - 1, -1, -1):
                np.add.reduce(g, axis=0, out=gbs[k])
                if blas:
                    blas.gemm_tn(g, hs[k], vWs[k], momentum)
                    vbs[k] *= momentum
                    vbs[k] += gbs[k]
                else:
                    np.matmul(g.T, hs[k], out=gWs[k])
                if k > 0:
                    g_below = np.matmul(g, Ws[k], out=backs[k - 1][:n])
                    g_below *= hs[k] > 0
                    g = g_below
            if blas:
                blas.axpy(-lr, velocity, params)
            elif momentum:
                np.multiply(velocity, momentum, out=velocity)
                np.add(velocity, grads, out=velocity)
                np.multiply(velocity, -lr, out=step)
                np.add(params, step, out=params)
            else:
                np.multiply(grads, -lr, out=step)
                np.add(params, step, out=params)

    return epoch


class BundledBlas:
    """``gemm_tn`` and ``axpy`` of the CBLAS interface in the OpenBLAS that NumPy's wheels ship."""

    ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

    def __init__(self, sgemm, saxpy, integer):
        import ctypes

        pointer, real = ctypes.c_void_p, ctypes.c_float
        sgemm.argtypes = [integer] * 6 + [real, pointer, integer, pointer, integer, real, pointer, integer]
        saxpy.argtypes = [integer, real, pointer, integer, pointer, integer]
        sgemm.restype = saxpy.restype = None
        self.sgemm, self.saxpy = sgemm, saxpy

    def gemm_tn(self, a, b, c, beta):
        """``c ← aᵀ b + beta·c`` for C-contiguous float32 ``a`` (k, m), ``b`` (k, n), ``c`` (m, n)."""
        (k, m), n = a.shape, b.shape[1]
        self.sgemm(
            self.ROW_MAJOR,
            self.TRANS,
            self.NO_TRANS,
            m,
            n,
            k,
            1.0,
            a.ctypes.data,
            m,
            b.ctypes.data,
            n,
            float(beta),
            c.ctypes.data,
            n,
        )

    def axpy(self, alpha, x, y):
        """``y ← alpha·x + y`` for contiguous float32 vectors."""
        self.saxpy(x.size, float(alpha), x.ctypes.data, 1, y.ctypes.data, 1)


def bundled_blas():
    """:class:`BundledBlas` over the OpenBLAS NumPy has loaded, or ``None`` where it is not found
    (found through ``/proc/self/maps``, so Linux only; other BLAS builds are not looked for)."""
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            fields = [line.split(maxsplit=5) for line in maps]
    except OSError:
        return None
    paths = sorted({f[5].strip() for f in fields if len(f) == 6 and "openblas" in f[5].lower()})
    names = (("scipy_cblas_", "64_", ctypes.c_int64), ("cblas_", "64_", ctypes.c_int64), ("cblas_", "", ctypes.c_int))
    for path in paths:
        library = ctypes.CDLL(path)
        for prefix, suffix, integer in names:
            sgemm = getattr(library, f"{prefix}sgemm{suffix}", None)
            saxpy = getattr(library, f"{prefix}saxpy{suffix}", None)
            if sgemm is not None and saxpy is not None:
                return BundledBlas(sgemm, saxpy, integer)
    return None


def gemm_contender(spec, X):
    sizes = [784, *spec["hidden"], 10]
    batch = spec["batch"]
    rng = np.random.default_rng(0)
    Ws = [rng.standard_normal((b, a)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    hs = [np.empty((batch, s), np.float32) for s in sizes]
    gWs = [np.empty_like(W) for W in Ws]

    def epoch():
        for start in range(0, len(X), batch):
            h = X[start : start + batch]
            n = len(h)
            acts = [h]
            for k, W in enumerate(Ws):
                acts.append(np.matmul(acts[-1], W.T, out=hs[k + 1][:n]))
            g = acts[-1]
            for k in range(len(Ws) - 1, -1, -1):
                np.matmul(g.T, acts[k], out=gWs[k])
                if k > 0:
                    g = np.matmul(g, Ws[k], out=hs[k][:n])

    return epoch


# ----------------------------------------------------------------------------- main


def available(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def profile_mlp(spec, kernels):
    """Seconds of one epoch spent in each part of mlp's trainer, timed by wrapping the parts of the
    real epoch (each layer's forward and backward, the loss, the optimizer, the row gather); the rest
    is the trainer's own loop (finite check, bookkeeping)."""
    epoch = mlp_contender(spec, kernels=kernels)
    trainer = epoch.__self__
    experiment = trainer.experiment
    spent = {}

    inside = []  # a timed part calling another (Linear.forward calls product) counts once

    def timed(owner, method, part):
        inner = getattr(owner, method)

        def wrapper(*args, **kwargs):
            if inside:
                return inner(*args, **kwargs)
            inside.append(part)
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[part] = spent.get(part, 0.0) + time.perf_counter() - started
                inside.pop()

        setattr(owner, method, wrapper)

    for layer in experiment.network.layers:  # paired Linear→ReLU run product/forward_biased/…
        linear = type(layer).__name__ == "Linear"
        kind = "Linear (GEMMs)" if linear else f"{type(layer).__name__} (element-wise, with the bias)"
        for method in ("forward", "product") if linear else ("forward", "forward_biased"):
            timed(layer, method, f"{kind} forward")
        for method in ("backward", "product_backward") if linear else ("backward", "backward_summed"):
            timed(layer, method, f"{kind} backward")
    timed(experiment.loss, "forward_prepared", "loss: softmax + cross-entropy + gradient")
    timed(experiment.optimizer, "step", "optimizer step")
    timed(trainer.batches, "_gather", "row gather (batching)")
    epoch()
    spent.clear()
    started = time.perf_counter()
    epoch()
    total = time.perf_counter() - started
    spent["trainer loop (finite check, bookkeeping)"] = total - sum(spent.values())
    return total, spent


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workloads", default="W1,W2,W3")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument(
        "--contenders", default=",".join(CONTENDERS), help=f"a subset of {','.join(CONTENDERS)} (default: all)"
    )
    parser.add_argument("--profile", action="store_true", help="where mlp's epoch time goes")
    parser.add_argument("--kernels", default="numpy", choices=["numpy", "numba"], help="with --profile: which kernels")
    parser.add_argument("--diagnostics", action="store_true", help="what the training diagnostics cost")
    parser.add_argument("--per-batch", action="store_true", help="what mlp adds per batch, hot in cache")
    args = parser.parse_args()
    chosen = [c.strip() for c in args.contenders.split(",")]
    if set(chosen) - set(CONTENDERS):
        parser.error(f"--contenders: choose from {', '.join(CONTENDERS)}")

    from threadpoolctl import threadpool_limits

    from mlp.data.datasets import load_builtin

    names = [w.strip() for w in args.workloads.split(",")]
    with threadpool_limits(2):
        print_machine()
        if args.diagnostics:
            diagnostics_cost(names, args.rounds)
            return
        if args.per_batch:
            per_batch_cost(names, args.rounds)
            return
        if args.profile:
            for name in names:
                total, spent = profile_mlp(WORKLOADS[name], args.kernels)
                print(f"\n{name}: one epoch {total:.3f} s with the {args.kernels} kernels")
                for part, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
                    print(f"  {part:<46} {seconds:7.3f} s  {100 * seconds / total:5.1f}%")
            return
        blas = bundled_blas()
        data = load_builtin("mnist")
        X = (data.X.astype(np.float32) / 255).astype(np.float32)
        y = data.y.astype(np.int64)
        results = {}
        for name in names:
            spec = WORKLOADS[name]
            builders = {
                "mlp": lambda spec=spec: mlp_contender(spec),
                "fast": lambda spec=spec: mlp_contender(spec, kernels="numba") if available("numba") else None,
                "pytorch": lambda spec=spec: torch_contender(spec, X, y) if available("torch") else None,
                "sklearn": lambda spec=spec: sklearn_contender(spec, X, y) if available("sklearn") else None,
                "numpy": lambda spec=spec: numpy_contender(spec, X, y),
                "blas": lambda spec=spec: numpy_contender(spec, X, y, blas) if blas else None,
                "gemm": lambda spec=spec: gemm_contender(spec, X),
            }
            contenders = {CONTENDERS[key]: builders[key]() for key in CONTENDERS if key in chosen}
            times = {k: [] for k in contenders}
            peaks = {k: None for k in contenders}
            for epoch in contenders.values():
                if epoch is not None:
                    epoch()  # warm-up
            for _ in range(args.rounds):
                for k, epoch in contenders.items():
                    if epoch is None:
                        continue
                    with PeakMemory() as memory:
                        started = time.perf_counter()
                        epoch()
                        times[k].append(time.perf_counter() - started)
                    if memory.growth is not None:
                        peaks[k] = max(peaks[k] or 0.0, memory.growth)
            flops = epoch_flops(len(X), [784, *spec["hidden"], 10])
            rows = {}
            for k in contenders:
                if not times[k]:
                    rows[k] = None
                    continue
                ratio, loop, gemms = (
                    same_round_ratio(times[k], times.get(other))
                    for other in ("pytorch", "plain NumPy loop", "GEMMs alone")
                )
                median = statistics.median(times[k])
                rows[k] = {
                    "median_s": median,
                    "min_s": min(times[k]),
                    "max_s": max(times[k]),
                    "ratio_to_pytorch": ratio,
                    "ratio_to_numpy_loop": loop,
                    "ratio_to_gemms": gemms,
                    "gflops": flops / median / 1e9,
                    "rss_growth_mb": peaks[k],
                    "times_s": times[k],
                }
            results[name] = rows
            print_table(name, spec, rows)
    meta = {"date": time.strftime("%Y-%m-%d"), "rounds": args.rounds, **machine()}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)


def machine():
    """The CPU model, the BLAS NumPy uses (library, version, kernel) and the contenders' versions."""
    from importlib.metadata import PackageNotFoundError, version

    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = [
        f"{info.get('internal_api')} {info.get('version')} ({info.get('architecture')}, {info.get('num_threads')} threads)"
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    versions = {}
    for package in ("numpy", "numba", "torch", "scikit-learn", "threadpoolctl"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return {"cpu": cpu, "cores": os.cpu_count(), "blas": blas, "versions": versions}


def print_machine():
    info = machine()
    print(f"CPU: {info['cpu']} ({info['cores']} cores); BLAS: {'; '.join(info['blas']) or 'not found'}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()), flush=True)


def same_round_ratio(times, reference):
    """Median over rounds of ``times[i] / reference[i]`` (None without a reference)."""
    return statistics.median(a / b for a, b in zip(times, reference)) if reference else None


def print_table(name, spec, rows):
    sizes = "-".join(map(str, [784, *spec["hidden"], 10]))
    print(f"\n{name}: {sizes}, batch {spec['batch']}, SGD momentum {spec['momentum']}\n")
    print(
        "| contender | median epoch (s) | min–max (s) | ratio to PyTorch | ratio to the plain NumPy loop "
        "| × GEMMs alone | GFLOP/s | RSS growth during epoch (MB) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for k, row in rows.items():
        if row is None:
            print(f"| {k} | absent (not installed or not found) | | | | | | |")
            continue
        ratio, loop, gemms = (
            "–" if row[key] is None else f"{row[key]:.2f}"
            for key in ("ratio_to_pytorch", "ratio_to_numpy_loop", "ratio_to_gemms")
        )
        memory = "–" if row["rss_growth_mb"] is None else f"{row['rss_growth_mb']:.1f}"
        print(
            f"| {k} | {row['median_s']:.3f} | {row['min_s']:.3f}–{row['max_s']:.3f} | {ratio} | {loop} | {gemms} | "
            f"{row['gflops']:.1f} | {memory} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
