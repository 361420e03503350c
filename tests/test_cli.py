"""``python -m recnet enhance``: run in-process through ``recnet.__main__.main`` (fast), with a
randomly initialised RECNet saved as a weights file; plus one subprocess run of ``--help``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import recnet
import recnet.weights
from recnet.__main__ import main
from recnet.checkpoints import save_weights
from recnet.image_io.png import _encode_png16, _png_header

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(3)


@pytest.fixture(scope="module", autouse=True)
def one_thread_and_one_model_load():
    """Tiny images run ~10x faster on one thread on a busy 2-core machine, and each CLI run
    would load the same weights again: load each (weights, device) once, failures uncached."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    real_load, loaded = recnet.load_model, {}

    def load_once(weights=None, device="auto"):
        key = (None if weights is None else str(weights), device)
        if key not in loaded or weights is None:  # weights=None: the shipped file may come and go
            loaded[key] = real_load(weights, device)
        return loaded[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recnet, "load_model", load_once)
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("weights") / "random.pt"
    save_weights(recnet.RECNet(), path)
    return str(path)


def enhance(*args: str, weights: str | None = None) -> int:
    argv = ["enhance", *args, "--device", "cpu"]
    return main(argv + (["--weights", weights] if weights else []))


def rgb_pixels(h: int = 30, w: int = 40) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def make_folder(folder: Path) -> dict[str, bytes]:
    """Good and bad files; returns every file's bytes to prove later that none changed."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb_pixels()).save(folder / "plain.jpg", quality=90)
    rgba = np.dstack([rgb_pixels(), np.tile(np.arange(40, dtype=np.uint8) * 6, (30, 1))])
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    (folder / "deep.png").write_bytes(_encode_png16(RNG.integers(0, 65536, (30, 40, 3), dtype=np.uint16)))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 3)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image, and not an image extension either")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def test_folder_with_bad_files_keeps_going_and_reports_each(tmp_path, weights, capsys):
    before = make_folder(tmp_path / "in")
    out = tmp_path / "out"
    assert enhance(str(tmp_path / "in"), "-o", str(out), weights=weights) == 1
    err = capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["alpha.png", "deep.png", "plain.png"]
    errors = error_lines(err)
    assert len(errors) == 2 and "Traceback" not in err
    assert any(line.startswith(f"error: {tmp_path / 'in' / 'broken.jpg'}: ") for line in errors)
    assert any(line.startswith(f"error: {tmp_path / 'in' / 'empty.png'}: ") for line in errors)
    assert "notes.txt" not in err  # not an image extension: skipped silently
    assert "enhanced 3 of 5 images" in err and "2 failed" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "in").iterdir()} == before  # inputs untouched

    with Image.open(out / "plain.png") as img:
        assert img.mode == "RGB" and img.size == (40, 30)
    with Image.open(out / "alpha.png") as img, Image.open(tmp_path / "in" / "alpha.png") as source:
        assert img.mode == "RGBA"
        assert np.array_equal(np.asarray(img.getchannel("A")), np.asarray(source.getchannel("A")))
    width, height, depth, colour_type, _ = _png_header((out / "deep.png").read_bytes()[:33])
    assert (width, height, depth, colour_type) == (40, 30, 16, 2)  # 16-bit RGB in, 16-bit RGB out


def test_all_good_exits_zero_with_suffix_and_name_clashes(tmp_path, weights, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(rgb_pixels(3, 1)).save(tmp_path / "a" / "shot.jpg")  # very thin images too
    Image.fromarray(rgb_pixels(1, 5)).save(tmp_path / "b" / "shot.png")
    out = tmp_path / "out"
    argv = [str(tmp_path / "a"), str(tmp_path / "b" / "shot.png"), "-o", str(out), "--suffix", "_fixed"]
    assert enhance(*argv, weights=weights) == 0
    assert sorted(p.name for p in out.iterdir()) == ["shot_fixed-2.png", "shot_fixed.png"]
    assert Image.open(out / "shot_fixed.png").size == (1, 3)
    assert Image.open(out / "shot_fixed-2.png").size == (5, 1)
    assert error_lines(capsys.readouterr().err) == []


def test_refuses_to_write_over_an_input(tmp_path, weights, capsys):
    folder = tmp_path / "photos"
    before = make_folder(folder)
    assert enhance(str(folder), "-o", str(folder), weights=weights) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert enhance(str(folder / "alpha.png"), "-o", str(folder), "--overwrite", weights=weights) == 2
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # --overwrite is for outputs only


def test_existing_outputs_need_overwrite(tmp_path, weights, capsys):
    source = tmp_path / "in.jpg"
    Image.fromarray(rgb_pixels()).save(source)
    out = tmp_path / "out"
    out.mkdir()
    (out / "in.png").write_bytes(b"an older result")
    assert enhance(str(source), "-o", str(out), weights=weights) == 1
    assert "--overwrite" in error_lines(capsys.readouterr().err)[0]
    assert (out / "in.png").read_bytes() == b"an older result"
    assert enhance(str(source), "-o", str(out), "--overwrite", weights=weights) == 0
    assert Image.open(out / "in.png").size == (40, 30)


def test_recursive_only_when_asked(tmp_path, weights):
    nested = tmp_path / "in" / "day2"
    nested.mkdir(parents=True)
    Image.fromarray(rgb_pixels()).save(tmp_path / "in" / "top.png")
    Image.fromarray(rgb_pixels()).save(nested / "deep.png")
    assert enhance(str(tmp_path / "in"), "-o", str(tmp_path / "flat"), weights=weights) == 0
    assert [p.name for p in (tmp_path / "flat").iterdir()] == ["top.png"]
    assert enhance(str(tmp_path / "in"), "-o", str(tmp_path / "all"), "--recursive", weights=weights) == 0
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["deep.png", "top.png"]


def test_missing_weights_is_one_error_line(tmp_path, monkeypatch, capsys):
    Image.fromarray(rgb_pixels()).save(tmp_path / "in.png")
    monkeypatch.setattr(recnet.weights, "DEFAULT_WEIGHTS", tmp_path / "not_shipped_yet.pt")
    assert enhance(str(tmp_path / "in.png"), "-o", str(tmp_path / "out")) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot load the model: no shipped weights") and len(err.splitlines()) == 1
    assert enhance(str(tmp_path / "in.png"), "-o", str(tmp_path / "out"), weights=str(tmp_path / "x.pt")) == 1
    assert "weights file not found" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert enhance(str(tmp_path / "empty"), "-o", str(tmp_path / "out")) == 2
    assert "no image files" in capsys.readouterr().err
    Image.fromarray(rgb_pixels()).save(tmp_path / "in.png")
    (tmp_path / "file").write_text("x")
    assert enhance(str(tmp_path / "in.png"), "-o", str(tmp_path / "file")) == 2
    with pytest.raises(SystemExit) as exited:  # argparse: no -o
        main(["enhance", str(tmp_path / "in.png")])
    assert exited.value.code == 2


def test_missing_input_is_reported_and_the_rest_done(tmp_path, weights, capsys):
    Image.fromarray(rgb_pixels()).save(tmp_path / "in.png")
    missing = tmp_path / "gone.jpg"
    assert enhance(str(missing), str(tmp_path / "in.png"), "-o", str(tmp_path / "out"), weights=weights) == 1
    assert error_lines(capsys.readouterr().err) == [f"error: {missing}: no such file or folder"]
    assert (tmp_path / "out" / "in.png").is_file()


def test_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "recnet", "enhance", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "OUTDIR" in result.stdout and "--mode" in result.stdout and "--overwrite" in result.stdout


def test_a_photo_held_back_by_its_suggested_strength_is_named(tmp_path, weights, capsys):
    """A well-exposed photo comes back (nearly) unchanged by default: the CLI says so, and how to get all of it."""
    rng = np.random.default_rng(5)
    good = (np.clip(rng.random((60, 80, 1)) * 0.9 + 0.04, 0, 1) * np.array([250, 240, 230])).astype(np.uint8)
    Image.fromarray(good).save(tmp_path / "good.png")
    Image.fromarray((good * 0.4).astype(np.uint8)).save(tmp_path / "dim.png")
    assert enhance(str(tmp_path / "good.png"), str(tmp_path / "dim.png"), "-o", str(tmp_path / "out"), weights=weights) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "good.png: corrected at 0%" in notes[0] and "--strength 1" in notes[0]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "good.png")), good)
    assert enhance(str(tmp_path / "good.png"), "-o", str(tmp_path / "full"), "--strength", "1", weights=weights) == 0
    assert not [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
