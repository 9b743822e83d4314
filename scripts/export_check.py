"""ONNX Runtime against mlp on the held-out rows of trained runs: the README's export table.

    python scripts/export_check.py RUN_DIR...

For each run directory (``mlp train CONFIG --out RUN_DIR``; ``python scripts/gallery.py`` trains
every shipped config into ``runs/gallery/``): export its model to ONNX (timed), run the graph with
ONNX Runtime on the test split's raw rows and compare with ``Model.predict`` / ``predict_proba`` (what
``mlp predict`` prints): whether the labels are identical, the largest absolute difference of the
probabilities (or the hinges' scores), or for regression the largest difference in the target's
units and in the standardized units the network predicts in; the ONNX file's size and the
safetensors file's size.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import mlp
from mlp.export.onnx_graph import onnx_inputs
from mlp.training.experiment import held_out_rows


def check(run_dir, folder):
    model = mlp.load(run_dir)
    onnx_path, weights_path = folder / f"{run_dir.name}.onnx", folder / f"{run_dir.name}.safetensors"
    started = time.perf_counter()
    model.save(onnx_path)
    seconds = time.perf_counter() - started
    model.save(weights_path)
    rows = held_out_rows(model.config)
    session = ort.InferenceSession(str(onnx_path))
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, onnx_inputs(model, rows))))
    outputs = model.outputs(rows)
    row = {"run": run_dir.name, "rows": len(outputs), "seconds": seconds}
    row["onnx"], row["safetensors"] = onnx_path.stat().st_size, weights_path.stat().st_size
    if model.task == "regression":
        difference = np.abs(got["values"] - model.predict(rows))
        spread = 1.0 if model.target_scaler is None else model.target_scaler.std
        row["labels"] = "–"
        row["difference"] = f"{difference.max():.2g} (target units); {np.max(difference / spread):.2g} standardized"
    else:
        row["labels"] = "identical" if np.array_equal(got["label"], model.predict(rows)) else "DIFFER"
        probabilities = model.probabilities(outputs)
        if probabilities is None:
            row["difference"] = f"{np.max(np.abs(got['scores'] - outputs)):.2g} (scores)"
        else:
            row["difference"] = f"{np.max(np.abs(got['probabilities'] - probabilities)):.2g}"
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    print(
        "| run | held-out rows | labels | max \\|ONNX Runtime − mlp\\| | export (s) | model.onnx | model.safetensors |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        for run_dir in args.runs:
            row = check(run_dir, Path(folder))
            print(
                f"| {row['run']} | {row['rows']} | {row['labels']} | {row['difference']} | {row['seconds']:.3f} | "
                f"{row['onnx'] / 1024:.1f} KiB | {row['safetensors'] / 1024:.1f} KiB |",
                flush=True,
            )


if __name__ == "__main__":
    main()
