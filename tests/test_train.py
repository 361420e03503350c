"""recnet.training.train: the data mix, the crop schedule, checkpoint choice and a tiny resumable run."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recnet.training import train
from recnet.training.synthesis import SynthesisConfig


class Photos(list):
    """A stand-in for PhotoFolder: a list of float32 HxWx3 photos."""


def photos(n=3, size=40):
    rng = np.random.default_rng(0)
    return Photos(rng.uniform(0.2, 0.8, size=(n, size, size + 8, 3)).astype(np.float32))


def settings(**kw):
    base = dict(seed=0, batch=4, crop=16, min_scale=0.5, mix="synthetic=1", crop_schedule=None)
    return {**base, **kw}


def test_parse_mix_normalises_and_rejects_unknown_sources():
    mix = train.parse_mix("synthetic=2,identity=1,real=1")
    assert mix == {"synthetic": 0.5, "real": 0.25, "identity": 0.25, "mild": 0.0}
    with pytest.raises(ValueError, match="unknown source"):
        train.parse_mix("synthetic=1,hdr=1")
    with pytest.raises(ValueError):
        train.parse_mix("synthetic=0")


def test_crop_schedule_switches_at_its_iterations():
    s = settings(crop_schedule="0:64x8,100:128x2")
    assert train.crop_and_batch(0, s) == (64, 8)
    assert train.crop_and_batch(99, s) == (64, 8)
    assert train.crop_and_batch(100, s) == (128, 2)
    assert train.crop_and_batch(5, settings()) == (16, 4)  # no schedule: --crop x --batch
    with pytest.raises(ValueError, match="iteration 0"):
        train.parse_crop_schedule("10:64x8", 16, 4)


def test_identity_pairs_have_the_input_as_target_and_batches_are_reproducible():
    p = photos()
    inp, target = train.training_batch(p, 7, settings(mix="identity=1"), SynthesisConfig())
    assert inp.shape == (4, 3, 16, 16)
    torch.testing.assert_close(inp, target, rtol=0, atol=0)
    a = train.training_batch(p, 3, settings(mix="synthetic=1,mild=1,identity=1"), SynthesisConfig())
    b = train.training_batch(p, 3, settings(mix="synthetic=1,mild=1,identity=1"), SynthesisConfig())
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_mild_errors_are_smaller_than_synthetic_ones():
    p = photos(8)
    err = {}
    for source in ("mild", "synthetic"):
        inp, target = train.training_batch(p, 1, settings(mix=f"{source}=1", batch=16), SynthesisConfig())
        err[source] = float((inp - target).abs().mean())
    assert 0 < err["mild"] < err["synthetic"]


def test_real_share_without_brackets_is_refused():
    with pytest.raises(ValueError, match="--brackets"):
        train.training_batch(photos(), 0, settings(mix="real=1"), SynthesisConfig())


def test_selection_score_caps_the_do_no_harm_psnr():
    scores = {"synthetic_psnr": 20.0, "as_is_psnr": 50.0, "real_psnr": 17.0, "real_ssim": 0.7}
    assert train.selection_score(scores) == pytest.approx((20.0 + train.AS_IS_CAP + 17.0) / 3)


def _write_photos(folder, n, size=48):
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(60, 200, size=(size, size + 8, 3), dtype=np.uint8)).save(folder / f"p{i}.png")


def _train(args: list[str]) -> int:
    """``python -m recnet train ARGS``, in this process."""
    parser = __import__("argparse").ArgumentParser()
    train.configure(parser)
    return train.run(parser.parse_args(args))


def test_tiny_run_with_real_pairs_logs_every_validation_set_and_resumes(tmp_path):
    pytest.importorskip("cv2")
    from tests.test_brackets import make_scene

    _write_photos(tmp_path / "train", 3)
    _write_photos(tmp_path / "val", 2)
    for i in range(3):  # hashed split: with few scenes, the val side may be empty; train side is used
        make_scene(tmp_path / "brackets", f"scene{i}", seed=i)
    out = tmp_path / "run"
    args = [
        "--photos", str(tmp_path / "train"), "--val", str(tmp_path / "val"), "--out", str(out),
        "--brackets", str(tmp_path / "brackets"), "--mix", "synthetic=1,real=1,identity=1",
        "--crop-schedule", "0:16x2,2:24x1", "--no-luma-filter", "--val-every", "2", "--val-count", "2",
        "--log-every", "1", "--ckpt-every", "1", "--threads", "1",
    ]  # fmt: skip
    assert _train([*args, "--iters", "2"]) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["iteration"] == 2 and state["pixels"] == 2 * 2 * 16 * 16
    assert _train([*args, "--iters", "3"]) == 0  # resumes, crop 24 from iteration 2
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    steps = [x for x in lines if "lr" in x]
    assert [x["iter"] for x in steps] == [1, 2, 3] and steps[-1]["crop"] == 24
    assert steps[-1]["pixels"] == 2 * 2 * 16 * 16 + 24 * 24
    vals = [x for x in lines if "score" in x]
    assert vals and {"synthetic_psnr", "as_is_psnr", "score"} <= vals[0].keys()
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()


def _resumable_run(tmp_path) -> tuple[Path, list[str]]:
    """(run folder, arguments) of a tiny synthetic-only run, to be started and resumed with ``--iters``."""
    _write_photos(tmp_path / "train", 2)
    out = tmp_path / "run"
    base = ["--photos", str(tmp_path / "train"), "--out", str(out), "--crop", "16", "--batch", "2",
            "--no-luma-filter", "--log-every", "1", "--threads", "1", "--mix", "synthetic=1"]  # fmt: skip
    return out, base


def test_a_resumed_run_keeps_its_mix_unless_given_and_logs_a_change(tmp_path):
    out, base = _resumable_run(tmp_path)
    assert _train([*base, "--iters", "1"]) == 0
    without_mix = [a for a in base if a not in ("--mix", "synthetic=1")]
    assert _train([*without_mix, "--iters", "2"]) == 0  # not given: its own
    assert torch.load(out / "checkpoint.pt", weights_only=True)["settings"]["mix"] == "synthetic=1"
    assert _train([*without_mix, "--mix", "identity=1", "--iters", "3"]) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=True)["settings"]["mix"] == "identity=1"
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert {"iter": 2, "changed": {"mix": ["synthetic=1", "identity=1"]}} in lines
    assert not any("changed" in x and x["iter"] == 1 for x in lines)


def test_a_resumed_run_keeps_its_crop_schedule_unless_given_and_logs_a_change(tmp_path):
    out, base = _resumable_run(tmp_path)
    assert _train([*base, "--crop-schedule", "0:16x2", "--iters", "1"]) == 0
    assert _train([*base, "--iters", "2"]) == 0  # not given: its own, not --crop
    assert torch.load(out / "checkpoint.pt", weights_only=True)["settings"]["crop_schedule"] == "0:16x2"
    assert _train([*base, "--crop-schedule", "0:16x2,2:24x1", "--iters", "3"]) == 0
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert {"iter": 2, "changed": {"crop_schedule": ["0:16x2", "0:16x2,2:24x1"]}} in lines
    steps = [x for x in lines if "lr" in x]
    assert [(x["crop"], x["batch"]) for x in steps] == [(16, 2), (16, 2), (24, 1)]


def test_a_resumed_run_keeps_its_tonal_weight_unless_given_and_logs_a_change(tmp_path):
    out, base = _resumable_run(tmp_path)
    assert _train([*base, "--iters", "1"]) == 0
    settings = lambda: torch.load(out / "checkpoint.pt", weights_only=True)["settings"]  # noqa: E731
    assert settings()["tonal_weight"] == 0.0  # not given: the recipe's loss
    assert _train([*base, "--tonal-weight", "0.5", "--iters", "2"]) == 0
    assert _train([*base, "--iters", "3"]) == 0  # not given: its own
    assert settings()["tonal_weight"] == 0.5
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert {"iter": 1, "changed": {"tonal_weight": [0.0, 0.5]}} in lines
    assert [x["tonal"] for x in lines if "lr" in x and x["iter"] >= 2] and all(
        "tonal" not in x for x in lines if "lr" in x and x["iter"] == 1)


def test_worker_processes_make_the_same_batches_in_the_same_order():
    p = photos()
    s = settings(mix="synthetic=1,mild=1,identity=1")
    here = list(train.batch_stream(p, s, SynthesisConfig(), None, 5, 9, workers=0))
    ahead = list(train.batch_stream(p, s, SynthesisConfig(), None, 5, 9, workers=2))
    assert len(here) == len(ahead) == 4
    for (a, b), (c, d) in zip(here, ahead):
        torch.testing.assert_close((a, b), (c, d), rtol=0, atol=0)
    torch.testing.assert_close(here[0], train.training_batch(p, 5, s, SynthesisConfig()), rtol=0, atol=0)


def test_snapshots_keep_the_weights_every_n_iterations(tmp_path):
    _write_photos(tmp_path / "train", 2)
    out = tmp_path / "run"
    args = ["--photos", str(tmp_path / "train"), "--out", str(out), "--crop", "16", "--batch", "2", "--no-luma-filter",
            "--threads", "1", "--mix", "synthetic=1", "--iters", "4", "--snapshot-every", "2", "--workers", "1"]  # fmt: skip
    assert _train(args) == 0
    assert sorted(f.name for f in out.glob("iter-*.pt")) == ["iter-2.pt", "iter-4.pt"]
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    from recnet.checkpoints import load_weights
    from recnet.model import RECNet

    model = RECNet()
    load_weights(model, out / "iter-4.pt")
    for name, value in model.state_dict().items():  # the last snapshot is the final model
        torch.testing.assert_close(value, state["model"][name], msg=name)


def test_a_stop_signal_to_the_process_group_does_not_kill_the_batch_workers():
    """``timeout`` and Ctrl-C signal every process of the group; a worker killed by it made the
    run raise mid-step instead of stopping with a checkpoint."""
    import os
    import signal

    p = photos()
    stream = train.batch_stream(p, settings(), SynthesisConfig(), None, 0, 6, workers=1)
    next(stream)
    os.kill(stream._workers[0].pid, signal.SIGTERM)
    os.kill(stream._workers[0].pid, signal.SIGINT)
    assert len(list(stream)) == 5  # the rest still arrive
