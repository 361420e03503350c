"""``python -m recnet train``: train RECNet on mixed-exposure pairs synthesised on the fly.

Every batch is a pure function of (seed, iteration): photo choice, crop, augmentation and
synthesis all draw from ``rng(seed, iteration)``. So a run that is stopped (Ctrl-C, SIGTERM,
``--time-budget``, a crash) resumes *exactly* from its last checkpoint: model, optimizer and
iteration are all the state there is. Run the same command again to resume.

Out folder (``--out``): ``checkpoint.pt`` (resume state), ``last.pt`` and ``best.pt`` (weight
files in our format, best by validation PSNR), ``log.jsonl`` (one JSON object per logged
step: losses, learning rate, speed; and one per validation: PSNR/SSIM), ``config.json``.

Choices (docs/DESIGN.md section 4): the RIN blur kernels stay fixed at their Gaussian
initialisation (separable, ~20% cheaper; official checkpoints still load and run exactly),
channels-last memory format (~25% faster on CPU), learning rate warm-up then halved at 50%
and 75% of ``--iters`` like the official recipe.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch

from recnet.checkpoints import save_weights
from recnet.losses import RecnetLoss
from recnet.metrics import psnr, ssim
from recnet.model import RECNet
from recnet.synthesis import PhotoFolder, SynthesisConfig, augment, random_crop, resize_image, rng_for, synthesize_pair
from recnet.weights import resolve_device

CHECKPOINT_VERSION = 1
# settings that define the run; a resumed run keeps the ones it started with
RUN_SETTINGS = ("photos", "batch", "crop", "lr", "seed", "ecr_weight", "max_side", "min_scale", "luma_filter", "init")


def parse_duration(text: str | None) -> float | None:
    """'90m', '2.5h', '45s' or plain seconds -> seconds."""
    if text is None:
        return None
    text = str(text).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--photos", required=True, help="folder of well-exposed photos to synthesise pairs from")
    parser.add_argument("--val", help="folder of validation photos (pairs synthesised with a fixed seed)")
    parser.add_argument("--out", default="runs/recnet", help="run folder: checkpoints, weights, log (default %(default)s)")
    parser.add_argument("--iters", type=int, default=20000, help="total iterations; may be raised when resuming")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128, help="training crop size in pixels")
    parser.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (Adam, betas 0.9/0.99)")
    parser.add_argument("--warmup", type=int, default=100, help="linear learning-rate warm-up iterations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ecr-weight", type=float, default=0.1, help="weight of ECR; 0 leaves it out")
    parser.add_argument("--max-side", type=int, default=1024, help="photos are scaled to this long side when loaded")
    parser.add_argument("--min-scale", type=float, default=0.5, help="crops cover 1..1/min-scale times the crop size")
    parser.add_argument("--no-luma-filter", dest="luma_filter", action="store_false",
                        help="keep photos with mean luma outside 70-180 (dropped by default)")  # fmt: skip
    parser.add_argument("--init", help="start from these weights (a new run; ignored when resuming)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    parser.add_argument("--time-budget", help="stop (checkpointed) after this long, e.g. 2h, 90m")
    parser.add_argument("--val-every", type=int, default=250)
    parser.add_argument("--val-count", type=int, default=40, help="validation photos (the first N, sorted)")
    parser.add_argument("--val-seed", type=int, default=1234)
    parser.add_argument("--ckpt-every", type=int, default=25)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--fresh", action="store_true", help="start over even if --out holds a checkpoint")


def learning_rate(iteration: int, peak: float, total: int, warmup: int) -> float:
    """Linear warm-up, then halved at 50% and at 75% of the run (the official step schedule)."""
    if iteration < warmup:
        return peak * (iteration + 1) / warmup
    return peak * (0.5 ** (iteration >= total // 2)) * (0.5 ** (iteration >= (3 * total) // 4))


def training_sample(photo: np.ndarray, crop: int, min_scale: float, rng: np.random.Generator, config: SynthesisConfig):
    """A random crop covering 1..1/min_scale crop sizes, scaled to ``crop``, augmented, synthesised."""
    h, w = photo.shape[:2]
    region = max(crop, min(h, w, int(round(crop / rng.uniform(min_scale, 1.0)))))
    patch = random_crop(photo, region, rng)  # photos smaller than the crop are scaled up
    if patch.shape[0] != crop:
        patch = resize_image(patch, crop, crop)
    (patch,) = augment(rng, patch)
    inp, target, _ = synthesize_pair(patch, rng, config)
    return inp, target


def training_batch(photos, iteration: int, settings: dict, config: SynthesisConfig):
    """(input, target) tensors (B, 3, crop, crop) for ``iteration``: a pure function of it and the seed."""
    rng = rng_for(settings["seed"], iteration)
    picks = rng.integers(0, len(photos), size=settings["batch"])
    pairs = [training_sample(photos[int(i)], settings["crop"], settings["min_scale"], rng, config) for i in picks]
    to_tensor = lambda arrays: torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return to_tensor([p[0] for p in pairs]), to_tensor([p[1] for p in pairs])


def validation_pairs(folder: str, count: int, seed: int, config: SynthesisConfig):
    """Fixed validation pairs: the first ``count`` photos, whole, synthesised with ``seed``."""
    photos = PhotoFolder(folder)
    pairs = []
    for i in range(min(count, len(photos))):
        inp, target, _ = synthesize_pair(photos[i], rng_for(seed, i), config)
        pairs.append((torch.from_numpy(inp).permute(2, 0, 1)[None], torch.from_numpy(target).permute(2, 0, 1)[None]))
    return pairs


@torch.inference_mode()
def validate(model: RECNet, pairs, device: torch.device) -> dict:
    """Mean PSNR/SSIM on 8-bit RGB (outputs quantised like saved images)."""
    model.eval()
    scores = []
    for inp, target in pairs:
        out = model(inp.to(device)).image.cpu()
        q = lambda t: torch.round(t.double().clamp(0, 1) * 255)  # noqa: E731
        scores.append((float(psnr(q(out), q(target), 255.0)), float(ssim(q(out), q(target), 255.0))))
    model.train()
    return {"val_psnr": float(np.mean([s[0] for s in scores])), "val_ssim": float(np.mean([s[1] for s in scores]))}


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class _StopFlag:
    """Set by SIGINT/SIGTERM so the loop stops after the current step and checkpoints."""

    def __init__(self):
        self.stop = False
        self.previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.stop:  # second signal: give up at once
            raise KeyboardInterrupt
        self.stop = True
        print(f"\nsignal {signum}: stopping after this step and saving a checkpoint", file=sys.stderr)

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _progress(iteration: int, total: int, parts: dict, sec_per_iter: float, val: dict | None) -> str:
    eta = (total - iteration) * sec_per_iter
    text = f"\riter {iteration}/{total} loss {parts.get('total', float('nan')):.4f} {sec_per_iter:.2f}s/it"
    if val:
        text += f" val {val['val_psnr']:.2f}dB/{val['val_ssim']:.3f}"
    return text + f" eta {int(eta // 3600)}h{int(eta % 3600 // 60):02d}m "


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
    checkpoint_path = out / "checkpoint.pt"
    resume = checkpoint_path.is_file() and not args.fresh
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True) if resume else None
    settings = {k: getattr(args, k) for k in RUN_SETTINGS}
    if state is not None:
        changed = {k: (state["settings"][k], settings[k]) for k in RUN_SETTINGS if state["settings"].get(k) != settings[k]}
        if changed:
            print(f"resuming: keeping the run's own settings, ignoring {changed}", file=sys.stderr)
        settings = state["settings"]
    settings["photos"] = str(settings["photos"])

    model = RECNet()
    if state is None and settings["init"]:
        from recnet.checkpoints import load_weights

        load_weights(model, settings["init"])
    model.freeze_blur()
    model.to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=settings["lr"], betas=(0.9, 0.99))
    criterion = RecnetLoss(ecr=settings["ecr_weight"])
    iteration, best_psnr, elapsed_before = 0, -math.inf, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        iteration, best_psnr, elapsed_before = state["iteration"], state["best_psnr"], state["elapsed"]
        print(f"resuming {out} at iteration {iteration}", file=sys.stderr)
    (out / "config.json").write_text(json.dumps({**settings, "iters": args.iters, "device": str(device)}, indent=2))

    config = SynthesisConfig()
    luma = (70, 180) if settings["luma_filter"] else None
    photos = PhotoFolder(settings["photos"], max_side=settings["max_side"], luma_range=luma, cache=True)
    if len(photos) == 0:
        print(f"error: no photos in {settings['photos']}", file=sys.stderr)
        return 1
    val_pairs = validation_pairs(args.val, args.val_count, args.val_seed, config) if args.val else []
    budget = parse_duration(args.time_budget)
    started = time.monotonic()
    log = (out / "log.jsonl").open("a")

    def save_checkpoint():
        _atomic_save(
            {
                "version": CHECKPOINT_VERSION,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "iteration": iteration,
                "best_psnr": best_psnr,
                "elapsed": elapsed_before + time.monotonic() - started,
                "settings": settings,
            },
            checkpoint_path,
        )

    def weights_metadata(extra: dict) -> dict:
        return {
            "trained_on": f"mixed-exposure pairs synthesised from {settings['photos']} (recnet.synthesis)",
            "iterations": iteration,
            "batch": settings["batch"],
            "crop": settings["crop"],
            "ecr_weight": settings["ecr_weight"],
            "seed": settings["seed"],
            "device": str(device),
            "torch": str(torch.__version__),  # a plain str: weights_only loading refuses TorchVersion
            "train_seconds": round(elapsed_before + time.monotonic() - started, 1),
            **extra,
        }

    window, window_start, val = [], time.monotonic(), None
    with _StopFlag() as flag:
        while iteration < args.iters and not flag.stop:
            if budget is not None and time.monotonic() - started >= budget:
                print(f"\ntime budget {args.time_budget} reached", file=sys.stderr)
                break
            lr = learning_rate(iteration, settings["lr"], args.iters, args.warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            inp, target = training_batch(photos, iteration, settings, config)
            inp = inp.to(device, memory_format=torch.channels_last)
            target = target.to(device)
            output = model(inp)
            loss, parts = criterion(output, inp, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            iteration += 1
            window.append(parts)

            if iteration % args.log_every == 0 or iteration == args.iters:
                sec = (time.monotonic() - window_start) / len(window)
                mean = {k: float(np.mean([p[k] for p in window])) for k in window[0]}
                log.write(json.dumps({"iter": iteration, "lr": lr, "sec_per_iter": round(sec, 3), **mean,
                                      "elapsed": round(elapsed_before + time.monotonic() - started, 1)}) + "\n")  # fmt: skip
                log.flush()
                print(_progress(iteration, args.iters, mean, sec, val), end="", file=sys.stderr, flush=True)
                window, window_start = [], time.monotonic()
            if val_pairs and (iteration % args.val_every == 0 or iteration == args.iters):
                val = validate(model, val_pairs, device)
                log.write(json.dumps({"iter": iteration, **val}) + "\n")
                log.flush()
                if val["val_psnr"] > best_psnr:
                    best_psnr = val["val_psnr"]
                    save_weights(model, out / "best.pt", weights_metadata(val))
                window_start = time.monotonic()  # validation time is not training speed
            if iteration % args.ckpt_every == 0:
                save_checkpoint()
    save_checkpoint()
    save_weights(model, out / "last.pt", weights_metadata({}))
    log.close()
    print(f"\nstopped at iteration {iteration}; checkpoint in {checkpoint_path}", file=sys.stderr)
    return 0
