"""Where trials run: local worker processes (loky) or a Dask cluster. The driver owns the state;
an engine only starts work, says when it is done, and stops it.

Both engines give the same three calls: :meth:`submit` a job (a :class:`Task` comes back),
:meth:`wait` until some task is done or a timeout passes, :meth:`kill` a task's work. A task's
``outcome()`` is the job's result dict, or raises what went wrong (its worker died: lost).
"""

import concurrent.futures
import logging
import os
from dataclasses import dataclass
from typing import Any

from ..errors import MlpError
from .worker import run_job

# One BLAS thread per worker process: W workers on W cores, not W × cores threads fighting.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def available_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class Task:
    future: Any
    executor: Any = None  # the local engine's single-process executor running it

    def done(self):
        return self.future.done()

    def outcome(self):
        return self.future.result()


class LocalEngine:
    """``workers`` local processes through loky, each its own single-process executor: a worker that
    dies breaks only its own executor (and loses only its own trial), and is replaced."""

    name = "local"

    def __init__(self, workers):
        import loky

        self._loky = loky
        self.workers = workers
        self._idle: list = []

    def submit(self, job):
        executor = self._idle.pop() if self._idle else self._loky.ProcessPoolExecutor(max_workers=1, env=ONE_THREAD)
        return Task(executor.submit(run_job, job), executor)

    def release(self, task):
        """``task`` is done: its executor takes the next job, unless its worker died."""
        executor, task.executor = task.executor, None
        if executor is None:
            return
        if isinstance(task.future.exception(), self._loky.BrokenProcessPool):
            executor.shutdown(wait=False, kill_workers=True)
        else:
            self._idle.append(executor)

    def kill(self, task):
        if task.executor is not None:
            task.executor.shutdown(wait=False, kill_workers=True)
            task.executor = None

    def wait(self, tasks, timeout):
        concurrent.futures.wait([t.future for t in tasks], timeout, concurrent.futures.FIRST_COMPLETED)

    def close(self):
        for executor in self._idle:
            executor.shutdown(wait=True)
        self._idle = []


class DaskEngine:
    """A Dask cluster: a new ``LocalCluster`` of ``workers`` processes (1 thread each) on 127.0.0.1,
    or the existing cluster whose scheduler is at ``address``."""

    name = "dask"

    def __init__(self, workers, address=None):
        try:
            import dask
            import distributed
        except ImportError:
            raise MlpError("--backend dask needs Dask: pip install -e '.[dask]'") from None
        self._distributed, self.cluster = distributed, None
        # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which slows NumPy training 2.6-5x
        # here; keep only its one-thread settings. Retries are the sweep's to count: a task whose
        # worker died fails at once instead of being rerun by the scheduler.
        settings = {
            "distributed.nanny.pre-spawn-environ": dict(ONE_THREAD),
            "distributed.scheduler.allowed-failures": 0,
        }
        with dask.config.set(settings):
            if address is None:
                self.cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    scheduler_port=0,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.client = distributed.Client(self.cluster)
            else:
                try:
                    self.client = distributed.Client(address, timeout="10s")
                except OSError as exc:
                    raise MlpError(f"--address {address}: no Dask scheduler answered ({exc})") from None
        self.workers = workers or max(1, len(self.client.scheduler_info()["workers"]))

    def submit(self, job):
        return Task(self.client.submit(run_job, job, pure=False))

    def release(self, task):
        pass

    def kill(self, task):
        task.future.cancel()

    def wait(self, tasks, timeout):
        try:
            self._distributed.wait([t.future for t in tasks], timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_engine(backend, workers=None, address=None):
    """The engine for ``backend`` (``local`` or ``dask``); ``workers`` defaults to the cores (for an
    existing Dask cluster: its workers)."""
    if address is not None and backend != "dask":
        raise MlpError("--address names a Dask scheduler: use it with --backend dask")
    if backend == "dask":
        return DaskEngine(workers or (None if address else available_cores()), address)
    return LocalEngine(workers or available_cores())
