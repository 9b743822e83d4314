"""Sweeps on Dask, for real: a ``LocalCluster`` the driver starts, and a cluster of ``dask scheduler``
and ``dask worker`` processes started here — all on 127.0.0.1, in a loopback-only network namespace
where the machine allows one. A worker killed mid-trial: every trial still recorded once, the
killed one resumed from its checkpoint, bit-identical to a trial never interrupted."""

import os
import socket
import sys
from pathlib import Path

import pytest
from conftest import MLP, events, wait_for
from test_sweep_runs import check_killed_trial, first_trial, kill_when_checkpointed, sweep_file

from mlp.sweeps.engines import ONE_THREAD

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

GRID = "{model.hidden: [[8], [16]], optimizer.lr: [0.02, 0.05]}"


def free_port(processes):
    """A port free on 127.0.0.1 (inside the namespace, every port is)."""
    if processes.prefix:
        return 8786
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_local_cluster_runs_the_grid_and_survives_a_killed_worker(tmp_path, processes):
    path = sweep_file(tmp_path, GRID, epochs=40)
    sweep_dir = tmp_path / "s"
    driver = processes.start(
        [*MLP, "sweep", path, "--out", sweep_dir, "--backend", "dask", "--workers", "2"], tmp_path / "s.log"
    )
    trial = first_trial(sweep_dir)
    kill_when_checkpointed(sweep_dir, trial)
    assert driver.wait(300) == 0, (tmp_path / "s.log").read_text()
    assert next(e for e in events(sweep_dir) if e["event"] == "sweep")["backend"] == "dask"
    check_killed_trial(sweep_dir, trial, tmp_path)


def test_an_existing_cluster_runs_the_grid_and_survives_a_killed_worker(tmp_path, processes):
    port = free_port(processes)
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    processes.start(
        [bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
        tmp_path / "scheduler.log",
    )
    wait_for(lambda: "Scheduler at" in (tmp_path / "scheduler.log").read_text(), 60, "the Dask scheduler")
    # As the README starts them: no nanny (it would set MALLOC_TRIM_THRESHOLD_), one BLAS thread.
    for number in (1, 2):
        processes.start(
            [
                bin_dir / "dask",
                "worker",
                address,
                "--no-nanny",
                "--nthreads",
                1,
                "--host",
                "127.0.0.1",
                "--no-dashboard",
            ],
            tmp_path / f"worker{number}.log",
            env={**os.environ, **ONE_THREAD},
        )
    for number in (1, 2):
        log = tmp_path / f"worker{number}.log"
        wait_for(lambda log=log: "Registered to" in log.read_text(), 60, f"Dask worker {number}")
    path = sweep_file(tmp_path, GRID, epochs=40)
    sweep_dir = tmp_path / "s"
    driver = processes.start(
        [*MLP, "sweep", path, "--out", sweep_dir, "--backend", "dask", "--address", address], tmp_path / "s.log"
    )
    trial = first_trial(sweep_dir)
    kill_when_checkpointed(sweep_dir, trial)
    assert driver.wait(300) == 0, (tmp_path / "s.log").read_text()
    assert next(e for e in events(sweep_dir) if e["event"] == "sweep")["workers"] == 2
    check_killed_trial(sweep_dir, trial, tmp_path)


def test_local_cluster_workers_train_without_malloc_trim_and_with_one_blas_thread():
    from mlp.sweeps.engines import DaskEngine

    engine = DaskEngine(1)
    try:
        names = ("MALLOC_TRIM_THRESHOLD_", "OPENBLAS_NUM_THREADS")
        future = engine.client.submit(lambda: [os.environ.get(n) for n in names], pure=False)
        assert future.result(timeout=60) == [None, "1"]
        assert all(address.startswith("tcp://127.0.0.1:") for address in engine.client.scheduler_info()["workers"])
    finally:
        engine.close()
