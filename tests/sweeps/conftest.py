"""Processes for the sweep tests: every one started here is stopped by its PID, every wait bounded,
and the distributed ones run in a loopback-only network namespace where the machine allows it."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

MLP = [sys.executable, "-m", "mlp"]


def wait_for(condition, timeout, what):
    """Poll ``condition`` every 50 ms; its first true value, or a test failure after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def stop(process, timeout=10):
    """SIGTERM, then SIGKILL after ``timeout`` s: the process and its session's group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    try:  # what it started in its session (nannies, workers)
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Processes:
    """Starts commands (with the namespace prefix) and stops them all, last started first."""

    def __init__(self, prefix):
        self.prefix, self.started = prefix, []

    def start(self, command, log_path, **kwargs):
        log = open(log_path, "wb")
        process = subprocess.Popen(
            [*self.prefix, *map(str, command)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        log.close()
        self.started.append(process)
        return process

    def stop_all(self):
        for process in reversed(self.started):
            stop(process)


def _namespace_available():
    tools = all(shutil.which(t) for t in ("unshare", "nsenter", "ip"))
    return tools and hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="session")
def loopback_prefix():
    """A command prefix entering a network namespace with only ``lo`` (up), or ``[]`` where one
    cannot be made (not root, no util-linux): the tests still run, on 127.0.0.1."""
    if not _namespace_available():
        yield []
        return
    holder = subprocess.Popen(
        ["unshare", "-n", "sh", "-c", "ip link set lo up && exec sleep 3600"], start_new_session=True
    )
    prefix = ["nsenter", f"--net=/proc/{holder.pid}/ns/net", "--"]
    try:

        def ready():
            if holder.poll() is not None:
                return "failed"
            check = subprocess.run([*prefix, "ip", "-o", "link"], capture_output=True, text=True, timeout=5)
            links = check.stdout.strip().splitlines()
            return "ready" if len(links) == 1 and "UP" in links[0] else None

        state = wait_for(ready, 10, "the loopback network namespace")
        yield prefix if state == "ready" else []
    finally:
        stop(holder)


@pytest.fixture
def processes(loopback_prefix):
    started = Processes(loopback_prefix)
    yield started
    started.stop_all()


@pytest.fixture
def local_processes():
    started = Processes([])
    yield started
    started.stop_all()


def events(sweep_dir):
    path = Path(sweep_dir) / "sweep.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]
    return [json.loads(line) for line in lines]


def outcomes(sweep_dir):
    """``{trial: [outcome events]}`` for every queued trial."""
    found = {e["trial"]: [] for e in events(sweep_dir) if e["event"] == "queued"}
    for event in events(sweep_dir):
        if event["event"] in ("finished", "failed", "pruned"):
            found[event["trial"]].append(event)
    return found


def heartbeat(sweep_dir, trial):
    try:
        return json.loads((Path(sweep_dir) / "heartbeats" / f"{trial}.json").read_text())
    except (OSError, ValueError):
        return None
