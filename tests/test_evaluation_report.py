"""The report of ``python -m recnet evaluate`` (real validation, as-is, tonal, --all) on tiny data.

The model is a stand-in: a module that multiplies the image by a fixed gain, run through
``recnet.inference.pipeline.correct_rgb`` as RECNet is, so each target's pass and fail are known.
"""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import recnet
from recnet.__main__ import main
from recnet.evaluation import report
from recnet.evaluation.evaluate import model_method
from tests.stand_ins import AffineNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _photos(folder: Path, count: int = 3, size=(48, 40), seed: int = 0) -> Path:
    """Smooth, well-exposed little photos (PNG)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        base = rng.integers(50, 210, (5, 6, 3), dtype=np.uint8)
        Image.fromarray(base).resize(size, Image.BICUBIC).save(folder / f"p{i}.png")
    return folder


def _brackets(root: Path, val: int = 2, train: int = 1) -> tuple[Path, list[str]]:
    """A bracket folder: ``val`` validation scenes and ``train`` training ones, 3 frames each."""
    from recnet.training.brackets import is_validation_group

    names = [f"fake-scene-{i}" for i in range(200)]
    val_names = [n for n in names if is_validation_group(n)][:val]
    train_names = [n for n in names if not is_validation_group(n)][:train]
    rng = np.random.default_rng(1)
    for name in val_names + train_names:
        (root / name).mkdir(parents=True)
        scene = np.asarray(
            Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)).resize((64, 48), Image.BICUBIC)
        )
        radiance = (scene.astype(np.float32) / 255.0) ** 2.2
        for k, exposure in enumerate((0.25, 1.0, 4.0)):  # darkest first
            frame = np.clip(radiance * exposure, 0, 1) ** (1 / 2.2)
            Image.fromarray(np.round(frame * 255).astype(np.uint8)).save(root / name / f"ev{k}.jpg", quality=95)
    return root, val_names


def _oracle(pairs) -> callable:
    """A corrector that knows every pair's target: beats any baseline."""
    table = [(inp, target) for _, inp, target in pairs]

    def correct(rgb):
        diffs = [np.abs(inp - rgb).max() if inp.shape == rgb.shape else np.inf for inp, _ in table]
        assert min(diffs) < 1e-4, f"not one of the pairs' inputs (off by {min(diffs)})"  # composites: ~1 ulp
        return table[int(np.argmin(diffs))][1]

    return correct


# --------------------------------------------------------------------------------------
# sections through the Python API


def test_as_is_identity_model_is_harmless_and_a_darkening_one_is_not(tmp_path):
    photos = _photos(tmp_path / "photos")
    exact = report.as_is_section(lambda rgb: rgb, photos)
    assert exact["photos"] == 3 and [r["name"] for r in exact["per_image"]] == ["p0.png", "p1.png", "p2.png"]
    # identical: an infinite PSNR, capped so that the mean stays a mean, and counted
    assert exact["psnr"] == report.AS_IS_PSNR_CAP and exact["unchanged"] == 3
    assert exact["ssim"] == pytest.approx(1.0) and exact["pass"]

    # the same through the product's correction (fast mode, guided upsampling from 16 px; the network's own range)
    # (at full strength: the suggested one could leave these photos alone whatever the network does)
    same = report.as_is_section(model_method(AffineNet(scale=1.0), "fast", 16, "photo", "network", 1.0), photos)
    dark = report.as_is_section(model_method(AffineNet(scale=0.5), "fast", 16, "photo", "network", 1.0), photos)
    assert same["psnr"] >= report.MIN_AS_IS_PSNR_DB and same["pass"]
    assert dark["psnr"] < 15 and dark["min_psnr"] <= dark["psnr"] and not dark["pass"] and dark["unchanged"] == 0
    assert dark["target"]["min_psnr_db"] == 30.0


def test_tonal_percentiles_of_a_known_image():
    grey = np.repeat(np.linspace(0, 1, 101, dtype=np.float32)[None, :, None], 3, axis=2)  # luma = value
    assert report.tonal_percentiles(grey) == {"p1": 0.01, "p50": 0.5, "p99": 0.99}
    red = np.zeros((4, 4, 3), np.float32)
    red[..., 0] = 1.0
    assert report.tonal_percentiles(red) == {"p1": 0.299, "p50": 0.299, "p99": 0.299}  # BT.601


def test_tonal_section_scales_to_1024_and_checks_the_range(tmp_path):
    folder = tmp_path / "real"
    folder.mkdir()
    levels = np.linspace(0.3, 0.7, 64)  # a flat photo: luma 0.3 .. 0.7 left to right
    Image.fromarray(np.round(np.repeat(np.tile(levels, (32, 1))[..., None], 3, axis=2) * 255).astype(np.uint8)).save(
        folder / "flat.png"
    )
    as_is = report.tonal_section(lambda rgb: rgb, folder)
    row = as_is["per_image"][0]
    assert row["size"] == [1024, 512] and as_is["long_side"] == 1024  # scaled up, Lanczos
    assert row["input"] == row["output"]
    assert row["input"]["p1"] == pytest.approx(0.3, abs=0.01) and row["input"]["p99"] == pytest.approx(0.7, abs=0.01)
    assert row["input"]["p50"] == pytest.approx(0.5, abs=0.01)
    assert not row["pass"] and not as_is["pass"] and as_is["passed"] == 0

    stretched = report.tonal_section(lambda rgb: np.clip((rgb - 0.3) / 0.4, 0, 1), folder)
    out = stretched["per_image"][0]["output"]
    assert out["p1"] <= 0.12 and out["p99"] >= 0.85 and stretched["pass"]
    assert stretched["mean"]["output"] == {k: out[k] for k in ("p1", "p50", "p99")}


def test_real_val_uses_the_validation_scenes_and_compares_with_identity_and_clahe(tmp_path):
    from recnet.training import brackets

    root, val_names = _brackets(tmp_path / "brackets")
    nothing = report.real_val_section(lambda rgb: rgb, root, per_image=True)
    assert nothing["scenes"] == sorted(val_names) and nothing["pairs"] == 3 * len(val_names)
    assert list(nothing["methods"]) == ["recnet", "identity", "clahe"]
    assert nothing["methods"]["recnet"] == nothing["methods"]["identity"]  # ties identity: not above it
    assert not nothing["pass"]
    first = min(val_names)
    assert [r["name"] for r in nothing["per_image"][:3]] == [
        f"{first}/{k}" for k in ("darkest", "brightest", "composite")
    ]

    pairs = brackets.validation_pairs(brackets.split_scenes(brackets.list_scenes(root)).val)
    oracle = report.real_val_section(_oracle(pairs), root)
    assert oracle["methods"]["recnet"]["psnr"] > 100 and oracle["pass"]
    assert oracle["target"]["compared_with"] == ["identity", "clahe"]
    assert report.real_val_section(_oracle(pairs), root, limit=1)["pairs"] == 3


def test_synthetic_section_needs_six_db_over_identity(tmp_path):
    from recnet.evaluation.evaluate import synthetic_pairs

    photos = _photos(tmp_path / "photos", count=2)
    plain = report.synthetic_section(lambda rgb: rgb, photos, seed=0)
    assert plain["recnet_gain_over_identity_db"] == 0 and not plain["pass"] and plain["seed"] == 0
    oracle = report.synthetic_section(_oracle(list(synthetic_pairs(photos, 0)[1])), photos, seed=0)
    assert oracle["recnet_gain_over_identity_db"] >= 6 and oracle["pass"]


def test_provenance_outside_git_and_default_paths(tmp_path):
    assert report.commit_of(tmp_path) == ("unknown", None)
    repo = Path(recnet.__file__).resolve().parents[1]
    datasets = repo.parent / "shared" / "datasets"
    assert report.DEFAULT_SOURCES == {
        "synthetic": datasets / "test", "real_val": datasets / "brackets",
        "as_is": datasets / "test", "tonal": datasets / "real",
    }  # fmt: skip
    assert report.display_path(datasets / "real") == "../shared/datasets/real"


# --------------------------------------------------------------------------------------
# the command


@pytest.fixture()
def gain_model(monkeypatch):
    """``evaluate`` loads a stand-in that returns the photo instead of weights; set ``.scale`` to change it."""
    model = AffineNet(scale=1.0)
    monkeypatch.setattr("recnet.weights.load_model", lambda weights=None, device="auto": model)
    return model


def _run(capsys, *argv):
    rc = main(["evaluate", *argv])
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) <= 1  # ONE JSON line
    return rc, (json.loads(lines[0]) if lines else None), err


def test_cli_report_sections_combine_into_one_json(tmp_path, gain_model, capsys):
    photos = _photos(tmp_path / "photos", count=2)
    root, _ = _brackets(tmp_path / "brackets", val=1)
    out_file = tmp_path / "out" / "report.json"
    rc, result, err = _run(
        capsys, "--synthetic", str(photos), "--real-val", str(root), "--as-is", str(photos), "--tonal", str(photos),
        "--json-out", str(out_file), "--long-side", "24", "--tonal-range", "network",
    )  # fmt: skip
    assert rc == 0
    assert json.loads(out_file.read_text()) == result  # the file holds the same report
    assert list(result["sections"]) == ["synthetic", "real_val", "as_is", "tonal"]
    assert result["mode"] == "fast" and result["colour"] == "photo" and result["long_side"] == 24  # product defaults
    assert result["tonal_range"] == "network" and result["strength"] == "auto"
    assert result["weights"] is None and result["device"] == "cpu"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=report.REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result["commit"] == (head.stdout.strip() if head.returncode == 0 else "unknown")
    assert datetime.datetime.fromisoformat(result["timestamp"]).tzinfo is not None
    s = result["sections"]
    assert s["as_is"]["pass"] and s["as_is"]["psnr"] >= 30  # a photo-preserving model does no harm
    assert not s["synthetic"]["pass"] and not s["real_val"]["pass"]  # ... but corrects nothing
    assert len(s["tonal"]["per_image"]) == 2 and s["tonal"]["per_image"][0]["size"] == [1024, 853]
    assert result["pass"] == {name: s[name]["pass"] for name in s}
    assert result["all_pass"] is False
    assert "as_is [2/2]" in err and "targets: synthetic FAIL" in err  # progress on stderr

    gain_model.scale = 0.5  # darkens: harms the as-is photos
    rc, dark, _ = _run(capsys, "--as-is", str(photos), "--quiet", "--strength", "1")
    assert rc == 0 and list(dark["sections"]) == ["as_is"] and not dark["pass"]["as_is"] and dark["strength"] == 1.0


def test_all_runs_every_section_on_the_default_folders(monkeypatch, tmp_path, gain_model, capsys):
    photos = _photos(tmp_path / "photos", count=1)
    root, _ = _brackets(tmp_path / "brackets", val=1, train=0)
    defaults = {"synthetic": photos, "real_val": root, "as_is": photos, "tonal": tmp_path / "missing"}
    monkeypatch.setattr(report, "DEFAULT_SOURCES", defaults)
    rc, result, err = _run(capsys, "--all", "--tonal", str(photos), "--quiet", "--limit", "1")  # explicit path wins
    assert rc == 0 and err == ""
    assert list(result["sections"]) == list(report.SECTIONS)
    assert result["sections"]["tonal"]["photos"] == 1 and result["sections"]["synthetic"]["pairs"] == 1

    rc, result, err = _run(capsys, "--all", "--quiet")  # the default tonal folder is missing
    assert rc == 1 and result is None and "missing" in err


def test_cli_report_refuses_what_does_not_fit(tmp_path, capsys):
    rc, _, err = _run(capsys)
    assert rc == 2 and "nothing to evaluate" in err
    rc, _, err = _run(capsys, "--as-is", str(tmp_path), "--no-model")
    assert rc == 2 and "--no-model" in err
    rc, _, err = _run(capsys, "--tonal", str(tmp_path), "--pairs", str(tmp_path))
    assert rc == 2 and "--pairs" in err


def test_single_source_evaluation_writes_json_out_too(tmp_path, capsys):
    photos = _photos(tmp_path / "photos", count=1)
    out_file = tmp_path / "synthetic.json"
    rc, result, _ = _run(capsys, "--synthetic", str(photos), "--no-model", "--quiet", "--json-out", str(out_file))
    assert rc == 0 and "sections" not in result and result["pairs"] == 1  # the single-source format, as before
    assert json.loads(out_file.read_text()) == result
