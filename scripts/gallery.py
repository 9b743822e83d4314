"""Train every shipped config (or the ones named) and print the README's results table.

    python scripts/gallery.py [configs/iris.yaml ...]

Each config runs as a user would run it, ``mlp train CONFIG --out runs/gallery/<name> --overwrite
--quiet``; wall time is that whole command's.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    configs = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "configs").glob("*.yaml"))
    print("| config | held-out result | epochs (best) | wall time | command |")
    print("| --- | --- | --- | --- | --- |")
    for config in configs:
        out = ROOT / "runs" / "gallery" / config.stem
        command = [
            "mlp",
            "train",
            f"configs/{config.name}",
            "--out",
            f"runs/gallery/{config.stem}",
            "--overwrite",
            "--quiet",
        ]
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "mlp", *command[1:]], cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            print(f"| {config.name} | failed: {done.stderr.strip()} | | | |")
            continue
        report = json.loads((out / "report.json").read_text())
        metrics, training = report["metrics"], report["training"]
        if report["task"] == "classification":
            result = f"accuracy {metrics['accuracy']:.4f}"
        else:
            result = f"RMSE {metrics['rmse']:.1f}, MAE {metrics['mae']:.1f}, R² {metrics['r2']:.3f}"
        print(
            f"| `{config.name}` | {result} | {training['epochs_run']} ({training['best_epoch']}) | "
            f"{seconds:.0f} s | `mlp train configs/{config.name}` |",
            flush=True,
        )


if __name__ == "__main__":
    main()
