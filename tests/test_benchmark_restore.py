"""benchmarks/restore.py --photo-denoising-only: the photo denoising rows are new, everything else is carried over
from the saved results file and the result says from which run."""

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
FACTS = {"model": "denoiser", "parameters": 1, "steps": 2, "training_seconds": 3.0, "trained_on": "folder:x",
         "config": {}}


@pytest.fixture
def restore(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module("restore")
    yield module
    sys.modules.pop("restore", None)


def test_photo_denoising_rerun_replaces_denoising_rows_and_names_the_carried_over_run(restore, monkeypatch, tmp_path):
    saved = json.loads((BENCHMARKS / "results" / "restore.json").read_text())
    new_summary = [{"data": "grey photos", "task": "denoise25", "method": m, "kind": kind, "psnr": psnr, "ssim": 0.9,
                    "seconds_per_image": seconds, "images": 7}
                   for m, kind, psnr, seconds in [("ours: new", "ours", 31.5, 1.0), ("bm3d (oracle σ)", "classical",
                                                                                     31.2, 15.0)]]
    new_rows = [{**row, "image": "camera", "seconds": 1.0, "height": 512, "width": 512} for row in new_summary]
    monkeypatch.setattr(restore, "photo_track", lambda args, figures, colourise: (
        list(new_rows), list(new_summary), {"25_tv_weight": 0.1, "25_nlm_h": 0.8}, {"camera denoise25": "x.png"}))
    monkeypatch.setattr(restore, "model_facts", lambda: {"photos/denoiser": FACTS})
    monkeypatch.setattr(restore, "model_folder", lambda models, data, name: tmp_path)

    result = restore.rerun_photo_denoising(restore.parse_args([]), tmp_path)

    assert result["rows"] == saved["rows"]
    s = result["summary"]
    assert (s["photo_denoise25_psnr"], s["photo_denoise25_bm3d_psnr"]) == (31.5, 31.2)
    assert s["photo_denoise25_speedup_vs_bm3d"] == pytest.approx(15.0)
    assert s["denoise50_gain_db"] == pytest.approx(saved["summary"]["denoise50_gain_db"])
    tasks = {(r["task"], r["method"]) for r in result["setup"]["photo_rows"]}
    assert ("denoise25", "ours: new") in tasks and any(task == "colorize" for task, _ in tasks)
    assert not any(task.startswith("denoise") and m != "ours: new" and not m.startswith("bm3d") for task, m in tasks)
    assert result["setup"]["models"]["photos/denoiser"] == FACTS
    assert result["setup"]["carried_over"]["date"] == saved["date"]
    assert f"those of the run of {saved['date']}" in restore.render(result)


def test_photo_denoising_rerun_without_a_photo_denoiser_says_what_to_pass(restore, tmp_path):
    with pytest.raises(SystemExit, match="pass --models DIR holding DIR/photos/denoiser"):
        restore.rerun_photo_denoising(restore.parse_args(["--models", str(tmp_path)]), tmp_path)
