"""``report.html``: one self-contained page, checked as text and opened in headless Chromium."""

import base64
import io
import json
import os
import re
import shutil
import signal
import subprocess

import numpy as np
import pytest
from matplotlib.image import imread

from helpers import CONFIGS_DIR, run

DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def train(tmp_path, config, *overrides):
    out = tmp_path / "run"
    sets = [item for override in overrides for item in ("--set", override)]
    result = run("train", CONFIGS_DIR / config, "--out", out, "--quiet", *sets)
    assert result.exit_code == 0, result.output
    return out


def test_the_page_is_self_contained_and_holds_the_whole_report(tmp_path):
    out = train(tmp_path, "digits.yaml", "training.epochs=3")
    page = (out / "report.html").read_text()
    report = json.loads((out / "report.json").read_text())
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert re.findall(r'src="([^"]+)"', page) and all(
        src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]+)"', page)
    )
    for encoded in DATA_URI.findall(page):
        image = imread(io.BytesIO(base64.b64decode(encoded)), format="png")
        assert image.shape[0] > 10 and image.shape[1] > 10
    assert len(DATA_URI.findall(page)) == len(report["plots"])  # every plot embedded
    assert "<title>Evaluation report: digits</title>" in page
    assert f"test accuracy {report['metrics']['accuracy']:.4f}" in page
    for heading in (
        "Metrics",
        "Confusion matrix",
        "Learning curves",
        "Diagnostics",
        "Most confident mistakes",
        "Config",
    ):
        assert f"<h2>{heading}</h2>" in page
    assert "dropout 0.1 (input 0)" in page and "optimizer adam (lr 0.003" in page


def test_compare_writes_a_page_with_the_runs_curves_overlaid(tmp_path):
    for name, lr in (("a", "0.003"), ("b", "0.03")):
        assert (
            run(
                "train",
                CONFIGS_DIR / "iris.yaml",
                "--out",
                tmp_path / name,
                "--quiet",
                "--set",
                f"optimizer.lr={lr}",
                "--set",
                "training.epochs=5",
            ).exit_code
            == 0
        )
    result = run("compare", tmp_path / "a", tmp_path / "b", "--format", "html")
    assert result.exit_code == 0, result.output
    page = result.stdout
    assert page.startswith("<!doctype html>") and "<title>Comparison of 2 runs</title>" in page
    assert "optimizer.lr" in page and "0.0030" in page and "0.0300" in page
    (encoded,) = DATA_URI.findall(page)
    assert imread(io.BytesIO(base64.b64decode(encoded)), format="png").shape[1] > 500


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs Debian's chromium (.ci/run); it is missing")
        pytest.skip("no chromium here (CI installs it)")
    return path


def headless(*args, profile):
    """Run headless Chromium on a file URL only, bounded in time; stop its whole process group."""
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--no-proxy-server",
        f"--user-data-dir={profile}",
        *map(str, args),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, text=True
    )
    try:
        output, _ = process.communicate(timeout=90)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return output


@pytest.mark.slow
def test_the_page_opens_in_headless_chromium_with_every_image_decoded(tmp_path):
    out = train(tmp_path, "mnist_homework.yaml", "training.epochs=1")
    page = (out / "report.html").read_text()
    assert 'class="mistakes"' in page and page.count('alt="row ') >= 5  # MNIST mistakes drawn as images
    checker = tmp_path / "checked.html"  # the same page, plus a script that counts decoded images
    script = (
        "<script>window.addEventListener('load', () => { const all = [...document.images];"
        " const ok = all.filter(i => i.complete && i.naturalWidth > 0).length;"
        " document.body.setAttribute('data-images', ok + '/' + all.length); });</script>"
    )
    checker.write_text(page.replace("</body>", script + "</body>"))
    dom = headless("--dump-dom", "--virtual-time-budget=10000", checker.as_uri(), profile=tmp_path / "profile")
    counted = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert counted, dom[:500]
    decoded, total = map(int, counted.groups())
    assert total >= 8 and decoded == total
    assert "<title>Evaluation report: mnist_homework</title>" in dom and "test accuracy 0." in dom
    shot = tmp_path / "shot.png"
    headless(
        f"--screenshot={shot}", "--window-size=1200,3000", (out / "report.html").as_uri(), profile=tmp_path / "profile"
    )
    image = imread(shot)
    assert image.shape[:2] == (3000, 1200) and np.std(image[..., :3]) > 0.05  # a drawn page, not a blank one
