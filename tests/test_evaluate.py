"""``python -m recnet evaluate`` on tiny folders made here; scores checked independently."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from recnet.__main__ import main
from recnet.evaluation.evaluate import evaluate_pairs, folder_pairs, synthetic_pairs, to_u8


def _ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM written out directly: 11x11 Gaussian window (sigma 1.5), valid region, range 255."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    n = np.arange(11) - 5.0
    g = np.exp(-0.5 * (n / 1.5) ** 2)
    w = np.outer(g, g) / np.outer(g, g).sum()
    h, wd = x.shape[0] - 10, x.shape[1] - 10
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for c in range(3):
        for i in range(h):
            for j in range(wd):
                a, b = x[i : i + 11, j : j + 11, c], y[i : i + 11, j : j + 11, c]
                ma, mb = (w * a).sum(), (w * b).sum()
                va, vb = (w * a * a).sum() - ma**2, (w * b * b).sum() - mb**2
                cov = (w * a * b).sum() - ma * mb
                vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def _psnr_reference(x: np.ndarray, y: np.ndarray) -> float:
    mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny images: one thread is fastest, and on a busy 2-core machine two threads spin-wait
    (a 20x28 forward took 5 s with 2 threads against 0.1 s with 1)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def pairs_dir(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "pairs"
    (root / "inputs").mkdir(parents=True)
    (root / "targets").mkdir()
    images = []
    for i in range(3):
        target = rng.integers(40, 220, (40, 48, 3), dtype=np.uint8)
        inp = np.clip(target.astype(int) // 2 + rng.integers(-10, 10, target.shape), 0, 255).astype(np.uint8)
        Image.fromarray(inp).save(root / "inputs" / f"img{i}.png")
        Image.fromarray(target).save(root / "targets" / f"img{i}.png")
        images.append((inp, target))
    Image.fromarray(images[0][0]).save(root / "inputs" / "orphan.png")  # no target: skipped
    return root, images


def _run_cli(capsys, *argv) -> tuple[int, dict | None, str]:
    rc = main(["evaluate", *argv, "--quiet"])
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) <= 1  # ONE JSON line
    return rc, (json.loads(lines[0]) if lines else None), err


def test_cli_on_pairs_folder_identity_scores(pairs_dir, capsys):
    root, images = pairs_dir
    rc, result, err = _run_cli(capsys, "--pairs", str(root), "--no-model")
    assert rc == 0 and "no partner" in err
    assert result["pairs"] == 3 and result["weights"] is None
    assert set(result["methods"]) == {"identity", "gamma", "clahe"}
    psnr = np.mean([_psnr_reference(i, t) for i, t in images])
    ssim = np.mean([_ssim_reference(i, t) for i, t in images])
    assert result["methods"]["identity"]["psnr"] == pytest.approx(psnr, abs=1e-4)
    assert result["methods"]["identity"]["ssim"] == pytest.approx(ssim, abs=1e-5)
    assert result["methods"]["gamma"]["psnr"] > result["methods"]["identity"]["psnr"]  # inputs are dark
    assert result["seconds"] >= 0


def test_cli_with_random_weights(pairs_dir, tmp_path, capsys):
    import recnet
    from recnet.checkpoints import save_weights

    root, _ = pairs_dir
    weights = tmp_path / "w.pt"
    save_weights(recnet.RECNet(), weights)
    rc, result, _ = _run_cli(
        capsys, "--pairs", str(root), "--weights", str(weights), "--device", "cpu", "--methods", "identity",
        "--limit", "1",
    )  # fmt: skip
    assert rc == 0 and result["pairs"] == 1
    assert list(result["methods"]) == ["recnet", "recnet_network_colours", "recnet_network_as_is", "identity"]
    assert result["weights"] == str(weights) and result["device"] == "cpu" and result["mode"] == "fast"
    r = result["methods"]["recnet"]
    assert np.isfinite(r["psnr"]) and -1 <= r["ssim"] <= 1


@pytest.fixture()
def random_weights(tmp_path):
    import torch

    import recnet
    from recnet.checkpoints import save_weights

    torch.manual_seed(0)
    path = tmp_path / "w.pt"
    save_weights(recnet.RECNet(), path)
    return path


def _direct(model, x):
    """The network on the whole photo as the pipeline feeds it: mirrored out (``mirror_pad``), cropped back."""
    import torch

    from recnet.inference.pipeline import mirror_pad

    padded, (top, left) = mirror_pad(torch.from_numpy(x).permute(2, 0, 1))
    with torch.inference_mode():
        out = model(padded[None]).image[0, :, top : top + x.shape[0], left : left + x.shape[1]]
    return out.permute(1, 2, 0).numpy()


def test_native_mode_is_the_network_on_the_whole_image(random_weights):
    import recnet
    from recnet.evaluation.evaluate import model_method

    model = recnet.load_model(random_weights, "cpu")
    x = np.random.default_rng(0).random((20, 28, 3)).astype(np.float32)
    raw = model_method(model, "native", colour="network", tonal_range="network", strength=1.0)
    np.testing.assert_allclose(raw(x), _direct(model, x), atol=1e-6)


def test_fast_mode_goes_through_enhance(pairs_dir, random_weights, capsys):
    import recnet
    from recnet.evaluation.evaluate import model_method
    from recnet.inference.pipeline import correct_rgb

    model = recnet.load_model(random_weights, "cpu")
    x = np.random.default_rng(0).random((160, 224, 3)).astype(np.float32)
    fast = model_method(model, "fast", long_side=112)(x)
    # exactly the product's fast path, which really ran the network at 112x80 and upsampled
    done = correct_rgb(x, model, "fast", 112)
    assert done.mode == "fast" and done.working_size == (112, 80)
    np.testing.assert_array_equal(fast, done.rgb)
    native = model_method(model, "native")(x)
    assert fast.shape == x.shape and not np.allclose(fast, native, atol=1e-3)  # not the native path

    root, _ = pairs_dir
    rc, result, _ = _run_cli(
        capsys, "--pairs", str(root), "--weights", str(random_weights), "--device", "cpu", "--methods", "identity",
        "--limit", "1", "--mode", "fast", "--long-side", "24",
    )  # fmt: skip
    assert rc == 0 and result["mode"] == "fast" and result["long_side"] == 24


def test_cli_reports_unloadable_weights_in_one_line(pairs_dir, tmp_path, capsys):
    root, _ = pairs_dir
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    rc, result, err = _run_cli(capsys, "--pairs", str(root), "--weights", str(bad))
    assert rc == 1 and result is None
    assert len(err.strip().splitlines()) == 1 and "cannot load RECNet weights" in err and "--no-model" in err


def test_cli_missing_folders(tmp_path, capsys):
    rc, result, err = _run_cli(capsys, "--pairs", str(tmp_path), "--no-model")
    assert rc == 1 and result is None and "inputs/" in err


def test_synthetic_mode_is_deterministic(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(2)
    for i in range(3):
        base = rng.integers(60, 200, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(base).resize((48, 36), Image.BICUBIC).save(photos / f"p{i}.png")
    runs = [_run_cli(capsys, "--synthetic", str(photos), "--seed", str(s), "--no-model")[1] for s in (5, 5, 6)]
    assert runs[0]["pairs"] == 3 and runs[0]["seed"] == 5 and runs[0]["source"].startswith("synthetic:")
    assert runs[0]["methods"] == runs[1]["methods"]
    assert runs[0]["methods"] != runs[2]["methods"]
    # photo i is synthesised with rng_for(seed, i): the same pairs through the Python API
    _, pairs = synthetic_pairs(photos, 5)
    assert evaluate_pairs(pairs)["methods"] == runs[0]["methods"]


def test_evaluate_pairs_api_with_custom_methods(pairs_dir):
    root, images = pairs_dir
    count, pairs = folder_pairs(root, limit=2)
    assert count == 2
    result = evaluate_pairs(pairs, methods={"invert": lambda x: 1 - x}, per_image=True)
    assert result["pairs"] == 2 and len(result["per_image"]) == 2
    inv = [_psnr_reference(to_u8(1 - i / 255.0), t) for i, t in images[:2]]
    assert result["methods"]["invert"]["psnr"] == pytest.approx(np.mean(inv), abs=1e-4)
