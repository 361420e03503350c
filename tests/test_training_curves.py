"""recnet.training.curves: the training log drawn as a picture."""

import json

import numpy as np
from PIL import Image

from recnet.__main__ import main
from recnet.training.curves import draw_curves, read_log, smooth


def write_log(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_resumed_iterations_keep_their_last_entry_and_validations_split(tmp_path):
    log = tmp_path / "log.jsonl"
    write_log(log, [
        {"iter": 10, "lr": 5e-4, "total": 1.0}, {"iter": 20, "lr": 5e-4, "total": 0.9},
        {"iter": 20, "val_psnr": 15.0, "val_ssim": 0.7},
        {"iter": 20, "lr": 5e-4, "total": 0.8},  # the run was resumed from iteration 10
        {"iter": 30, "lr": 2.5e-4, "total": 0.5}, {"iter": 30, "val_psnr": 16.0, "val_ssim": 0.75},
    ])
    steps, vals = read_log(log)
    assert [(r["iter"], r["total"]) for r in steps] == [(10, 1.0), (20, 0.8), (30, 0.5)]
    assert [r["val_psnr"] for r in vals] == [15.0, 16.0]


def test_smooth_is_an_exponential_moving_average():
    assert smooth([1.0, 0.0, 0.0], 0.5) == [1.0, 0.5, 0.25]


def test_cli_draws_both_panels_and_rejects_an_empty_log(tmp_path, capsys):
    log, out = tmp_path / "log.jsonl", tmp_path / "curves.png"
    write_log(log, [{"iter": i, "lr": 5e-4 if i < 50 else 2.5e-4, "total": 1 / i} for i in range(10, 101, 10)]
              + [{"iter": 100, "val_psnr": 18.0, "val_ssim": 0.8}])
    assert main(["curves", str(log), "-o", str(out)]) == 0
    pixels = np.asarray(Image.open(out).convert("RGB"))
    assert pixels.shape[:2] == draw_curves(*read_log(log)).size[::-1]
    assert (pixels != 255).any(axis=2).mean() > 0.01  # something was drawn
    (tmp_path / "empty.jsonl").write_text("")
    assert main(["curves", str(tmp_path / "empty.jsonl"), "-o", str(out)]) == 1
    assert "no training entries" in capsys.readouterr().err
