"""``python -m recnet train``: train RECNet on a mix of synthetic and real pairs made on the fly.

Every batch is a pure function of (seed, iteration): photo choice, crop, augmentation and
synthesis all draw from ``rng(seed, iteration)``. So a run that is stopped (Ctrl-C, SIGTERM,
``--time-budget``, a crash) resumes *exactly* from its last checkpoint: model, optimizer and
iteration are all the state there is. Run the same command again to resume.

Pair sources (``--mix``, shares drawn per sample): "synthetic" (``recnet.training.synthesis`` on a
well-exposed photo), "real" (``recnet.training.brackets``: a real bracket frame or a composite of two,
against the fused stack; needs ``--brackets``), "identity" (a well-exposed photo as input and
target: the network must learn to leave a good photo alone) and "mild" (small errors).
``--crop-schedule`` grows the crops during the run (the global ops see H*W).

Out folder (``--out``): ``checkpoint.pt`` (resume state), ``last.pt`` and ``best.pt`` (weight
files in our format, best by ``selection_score``: the mean PSNR over the synthetic, real and
do-no-harm validation sets), ``log.jsonl`` (one JSON object per logged step: losses, learning
rate, speed, crop, pixels so far; and one per validation), ``config.json``.

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
from recnet.evaluation.metrics import psnr, ssim
from recnet.model import RECNet
from recnet.training import brackets
from recnet.training.losses import RecnetLoss
from recnet.training.synthesis import (
    PhotoFolder,
    SynthesisConfig,
    augment,
    random_crop,
    resize_image,
    rng_for,
    synthesize_pair,
)
from recnet.training.train_step import make_train_step
from recnet.weights import resolve_device

CHECKPOINT_VERSION = 1
# settings that define the run; a resumed run keeps the ones it started with
RUN_SETTINGS = ("photos", "batch", "crop", "lr", "seed", "ecr_weight", "max_side", "min_scale", "luma_filter", "init",
                "brackets", "mix", "crop_schedule", "tonal_weight")
# settings a resumed run may change (logged with the iteration it changed at; not given: the run's own);
# the rest are the run's. A changed crop schedule holds from the resumed iteration on: stages already
# passed do not come back
RESUMABLE = ("mix", "crop_schedule", "tonal_weight")
SOURCES = ("synthetic", "real", "identity", "mild")  # where a training pair comes from (``--mix``)
DEFAULT_MIX = "synthetic=0.45,real=0.35,identity=0.1,mild=0.1"
# mild errors: the network must learn that a nearly right photo needs nearly nothing
MILD = SynthesisConfig(under_ev=(0.25, 1.0), over_ev=(0.25, 0.8), p_glare=0.1, glare=(0.01, 0.04))
AS_IS_CAP = 35.0  # dB: do-no-harm PSNR above this counts as this in the selection score


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
    parser.add_argument("--tonal-weight", type=float, default=None,
                        help="weight of the tonal term (recnet.training.losses.tonal_distribution_loss; default 0, "
                             "or the run's own when resuming)")
    parser.add_argument("--max-side", type=int, default=1024, help="photos are scaled to this long side when loaded")
    parser.add_argument("--min-scale", type=float, default=0.5, help="crops cover 1..1/min-scale times the crop size")
    parser.add_argument("--no-luma-filter", dest="luma_filter", action="store_false",
                        help="keep photos with mean luma outside 70-180 (dropped by default)")  # fmt: skip
    parser.add_argument("--init", help="start from these weights (a new run; ignored when resuming)")
    parser.add_argument("--brackets", help="folder of real exposure brackets (recnet.training.brackets): real pairs and real validation")
    parser.add_argument("--mix", default=None,
                        help=f"share of each pair source (default {DEFAULT_MIX}; real needs --brackets); "
                             "a resumed run keeps its own unless this is given, and logs the change")  # fmt: skip
    parser.add_argument("--crop-schedule", default=None,
                        help="crop size and batch by iteration, e.g. '0:128x8,6000:256x2' (default: --crop x --batch); "
                             "a resumed run keeps its own unless this is given, and logs the change")  # fmt: skip
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    parser.add_argument("--time-budget", help="stop (checkpointed) after this long, e.g. 2h, 90m")
    parser.add_argument("--val-every", type=int, default=250)
    parser.add_argument("--val-count", type=int, default=40, help="validation photos (the first N, sorted)")
    parser.add_argument("--val-seed", type=int, default=1234)
    parser.add_argument("--ckpt-every", type=int, default=25)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--snapshot-every", type=int, default=0,
                        help="also keep the weights every N iterations as iter-<N>.pt (0: none), to choose from later")  # fmt: skip
    parser.add_argument("--workers", type=int, default=0,
                        help="processes that make batches ahead of the step (0: made in the loop); "
                             "batches stay a pure function of (seed, iteration)")  # fmt: skip
    parser.add_argument("--fresh", action="store_true", help="start over even if --out holds a checkpoint")


def learning_rate(iteration: int, peak: float, total: int, warmup: int) -> float:
    """Linear warm-up, then halved at 50% and at 75% of the run (the official step schedule)."""
    if iteration < warmup:
        return peak * (iteration + 1) / warmup
    return peak * (0.5 ** (iteration >= total // 2)) * (0.5 ** (iteration >= (3 * total) // 4))


def parse_mix(text: str) -> dict[str, float]:
    """'synthetic=0.5,real=0.3,...' -> shares of ``SOURCES`` that sum to 1."""
    mix = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in SOURCES:
            raise ValueError(f"--mix: unknown source {name!r} (known: {', '.join(SOURCES)})")
        mix[name] = float(value)
    total = sum(mix.values())
    if total <= 0 or any(v < 0 for v in mix.values()):
        raise ValueError(f"--mix: shares must be >= 0 and not all 0, got {text!r}")
    return {k: mix.get(k, 0.0) / total for k in SOURCES}


def parse_crop_schedule(text: str | None, crop: int, batch: int) -> list[tuple[int, int, int]]:
    """'0:128x8,6000:256x2' -> [(from_iteration, crop, batch), ...] sorted; None -> [(0, crop, batch)]."""
    if not text:
        return [(0, crop, batch)]
    stages = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        start, _, size = part.partition(":")
        c, _, b = size.partition("x")
        stages.append((int(start), int(c), int(b)))
    stages.sort()
    if not stages or stages[0][0] != 0:
        raise ValueError(f"--crop-schedule must start at iteration 0, got {text!r}")
    return stages


def crop_and_batch(iteration: int, settings: dict) -> tuple[int, int]:
    """The (crop, batch) the schedule gives for ``iteration``."""
    stages = parse_crop_schedule(settings.get("crop_schedule"), settings["crop"], settings["batch"])
    crop, batch = stages[0][1:]
    for start, c, b in stages:
        if iteration >= start:
            crop, batch = c, b
    return crop, batch


def _photo_crop(photo: np.ndarray, crop: int, min_scale: float, rng: np.random.Generator) -> np.ndarray:
    """A random crop covering 1..1/min_scale crop sizes, scaled to ``crop``, flipped/rotated."""
    h, w = photo.shape[:2]
    region = max(crop, min(h, w, int(round(crop / rng.uniform(min_scale, 1.0)))))
    patch = random_crop(photo, region, rng)  # photos smaller than the crop are scaled up
    if patch.shape[0] != crop:
        patch = resize_image(patch, crop, crop)
    (patch,) = augment(rng, patch)
    return patch


def training_sample(source: str, photos, real, crop: int, min_scale: float, rng: np.random.Generator, config):
    """One (input, target) pair of ``crop`` x ``crop`` from ``source`` (one of ``SOURCES``)."""
    if source == "real":
        return real.sample(rng, crop, min_scale)
    patch = _photo_crop(photos[int(rng.integers(0, len(photos)))], crop, min_scale, rng)
    if source == "identity":  # a photo that needs nothing: the target is the input
        return patch, patch
    inp, target, _ = synthesize_pair(patch, rng, MILD if source == "mild" else config)
    return inp, target


def training_batch(photos, iteration: int, settings: dict, config: SynthesisConfig, real=None):
    """(input, target) tensors (B, 3, crop, crop) for ``iteration``: a pure function of it and the seed."""
    rng = rng_for(settings["seed"], iteration)
    crop, batch = crop_and_batch(iteration, settings)
    mix = parse_mix(settings.get("mix") or "synthetic=1")
    if real is None and mix["real"] > 0:
        raise ValueError("the mix has real pairs but no bracket scenes were given (--brackets)")
    sources = rng.choice(len(SOURCES), size=batch, p=[mix[k] for k in SOURCES])
    pairs = [training_sample(SOURCES[int(k)], photos, real, crop, settings["min_scale"], rng, config) for k in sources]
    to_tensor = lambda arrays: torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return to_tensor([p[0] for p in pairs]), to_tensor([p[1] for p in pairs])


class _Batches(torch.utils.data.Dataset):
    """Iterations ``start..stop-1`` as a dataset, so a DataLoader's workers make batches ahead."""

    def __init__(self, photos, settings: dict, config: SynthesisConfig, real, start: int, stop: int):
        self.args, self.start, self.stop = (photos, settings, config, real), start, stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __getitem__(self, index: int):
        photos, settings, config, real = self.args
        return training_batch(photos, self.start + index, settings, config, real)


def batch_stream(photos, settings: dict, config: SynthesisConfig, real, start: int, stop: int, workers: int):
    """The batches of iterations ``start..stop-1`` in order: made here, or by ``workers`` processes.

    Either way each batch is ``training_batch(..., iteration, ...)``, so the run is the same."""
    batches = _Batches(photos, settings, config, real, start, stop)
    if workers <= 0:
        return (batches[i] for i in range(len(batches)))
    return iter(torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False, num_workers=workers,
                                            prefetch_factor=4, pin_memory=torch.cuda.is_available(),
                                            worker_init_fn=_ignore_stop_signals))  # fmt: skip


def _ignore_stop_signals(_worker_id: int) -> None:
    """Ctrl-C and ``timeout`` signal the whole process group. A worker that died of it made the
    loop raise mid-step, with no checkpoint saved; the main process stops the run and then
    shuts the workers down itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _as_tensors(inp: np.ndarray, target: np.ndarray):
    return torch.from_numpy(inp).permute(2, 0, 1)[None], torch.from_numpy(target).permute(2, 0, 1)[None]


def validation_pairs(folder: str, count: int, seed: int, config: SynthesisConfig):
    """Fixed validation pairs: the first ``count`` photos, whole, synthesised with ``seed``."""
    photos = PhotoFolder(folder)
    pairs = []
    for i in range(min(count, len(photos))):
        inp, target, _ = synthesize_pair(photos[i], rng_for(seed, i), config)
        pairs.append(_as_tensors(inp, target))
    return pairs


def validation_sets(args, settings: dict, config: SynthesisConfig) -> dict[str, list]:
    """The sets checkpoints are chosen on: "synthetic" pairs, the same photos "as_is"
    (target = input: do no harm), and "real" bracket pairs of the validation scenes."""
    sets = {}
    if args.val:
        sets["synthetic"] = validation_pairs(args.val, args.val_count, args.val_seed, config)
        photos = PhotoFolder(args.val)
        sets["as_is"] = [_as_tensors(photos[i], photos[i]) for i in range(min(args.val_count, len(photos)) // 2)]
    if settings.get("brackets"):
        split = brackets.split_scenes(brackets.list_scenes(settings["brackets"]))
        real = [_as_tensors(inp, target) for _, inp, target in brackets.validation_pairs(split.val)]
        if real:  # a tiny bracket folder may hash every scene to the training side
            sets["real"] = real
    return sets


def selection_score(scores: dict) -> float:
    """Mean PSNR over the validation sets, the do-no-harm one capped at ``AS_IS_CAP``."""
    values = [min(v, AS_IS_CAP) if k == "as_is_psnr" else v for k, v in scores.items() if k.endswith("_psnr")]
    return float(np.mean(values)) if values else -math.inf


@torch.inference_mode()
def validate(model: RECNet, sets: dict[str, list], device: torch.device) -> dict:
    """Mean PSNR/SSIM per set on 8-bit RGB (outputs quantised like saved images), and the score."""
    model.eval()
    result = {}
    q = lambda t: torch.round(t.double().clamp(0, 1) * 255)  # noqa: E731
    for name, pairs in sets.items():
        scores = []
        for inp, target in pairs:
            out = model(inp.to(device)).image.cpu()
            scores.append((float(psnr(q(out), q(target), 255.0)), float(ssim(q(out), q(target), 255.0))))
        result[f"{name}_psnr"] = float(np.mean([s[0] for s in scores]))
        result[f"{name}_ssim"] = float(np.mean([s[1] for s in scores]))
    result["score"] = selection_score(result)
    model.train()
    return result


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
        text += " val " + " ".join(f"{k[:-5]} {v:.2f}dB" for k, v in val.items() if k.endswith("_psnr"))
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
        for key, legacy in (("brackets", None), ("mix", "synthetic=1"), ("crop_schedule", None), ("tonal_weight", 0.0)):
            state["settings"].setdefault(key, legacy)  # runs started before these settings existed
        for key in RESUMABLE:
            if settings[key] is None:  # not given: the run's own
                settings[key] = state["settings"][key]
        changed = {k: (state["settings"].get(k), settings[k]) for k in RUN_SETTINGS if state["settings"].get(k) != settings[k]}
        kept = {k: v for k, v in changed.items() if k not in RESUMABLE}
        if kept:
            print(f"resuming: keeping the run's own settings, ignoring {kept}", file=sys.stderr)
        resumed_changes = {k: v for k, v in changed.items() if k in RESUMABLE}
        settings = {**state["settings"], **{k: new for k, (_, new) in resumed_changes.items()}}
    settings["mix"] = settings["mix"] or DEFAULT_MIX
    settings["tonal_weight"] = float(settings["tonal_weight"] or 0.0)
    settings["photos"] = str(settings["photos"])

    model = RECNet()
    if state is None and settings["init"]:
        from recnet.checkpoints import load_weights

        load_weights(model, settings["init"])
    model.freeze_blur()
    model.to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=settings["lr"], betas=(0.9, 0.99))
    criterion = RecnetLoss(ecr=settings["ecr_weight"], tonal=settings["tonal_weight"])
    iteration, best_score, elapsed_before, pixels = 0, -math.inf, 0.0, 0  # pixels: sum of batch * crop**2
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        iteration, elapsed_before = state["iteration"], state["elapsed"]
        pixels = state.get("pixels", iteration * settings["batch"] * settings["crop"] ** 2)
        best_score = state.get("best_score", state.get("best_psnr", -math.inf))
        print(f"resuming {out} at iteration {iteration}", file=sys.stderr)
    train_step = make_train_step(model, criterion, optimizer)  # the reference's maths, one shared mask blur
    (out / "config.json").write_text(json.dumps({**settings, "iters": args.iters, "device": str(device)}, indent=2))

    config = SynthesisConfig()
    luma = (70, 180) if settings["luma_filter"] else None
    photos = PhotoFolder(settings["photos"], max_side=settings["max_side"], luma_range=luma, cache=True)
    if len(photos) == 0:
        print(f"error: no photos in {settings['photos']}", file=sys.stderr)
        return 1
    real = None
    if settings.get("brackets") and parse_mix(settings["mix"])["real"] > 0:
        real = brackets.BracketPairs(brackets.split_scenes(brackets.list_scenes(settings["brackets"])).train)
        print(f"real pairs from {len(real)} training scenes of {settings['brackets']}", file=sys.stderr)
    val_sets = validation_sets(args, settings, config)
    budget = parse_duration(args.time_budget)
    started = time.monotonic()
    log = (out / "log.jsonl").open("a")
    if state is not None and resumed_changes:  # the log says from which iteration the new settings hold
        log.write(json.dumps({"iter": iteration, "changed": {k: list(v) for k, v in resumed_changes.items()}}) + "\n")
        print(f"resuming with a changed {sorted(resumed_changes)} from iteration {iteration}", file=sys.stderr)

    def save_checkpoint():
        _atomic_save(
            {
                "version": CHECKPOINT_VERSION,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "iteration": iteration,
                "best_score": best_score,
                "pixels": pixels,
                "elapsed": elapsed_before + time.monotonic() - started,
                "settings": settings,
            },
            checkpoint_path,
        )

    def weights_metadata(extra: dict) -> dict:
        return {
            "trained_on": f"pairs from {settings['photos']} and {settings.get('brackets')}, mix {settings.get('mix')}",
            "init": settings.get("init"),
            "iterations": iteration,
            "pixel_iterations": pixels,
            "batch": settings["batch"],
            "crop": settings["crop"],
            "crop_schedule": settings.get("crop_schedule"),
            "ecr_weight": settings["ecr_weight"],
            "tonal_weight": settings["tonal_weight"],
            "seed": settings["seed"],
            "device": str(device),
            "torch": str(torch.__version__),  # a plain str: weights_only loading refuses TorchVersion
            "train_seconds": round(elapsed_before + time.monotonic() - started, 1),
            **extra,
        }

    window, window_start, val = [], time.monotonic(), None
    stream = batch_stream(photos, settings, config, real, iteration, args.iters, args.workers)
    with _StopFlag() as flag:
        while iteration < args.iters and not flag.stop:
            if budget is not None and time.monotonic() - started >= budget:
                print(f"\ntime budget {args.time_budget} reached", file=sys.stderr)
                break
            lr = learning_rate(iteration, settings["lr"], args.iters, args.warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            inp, target = next(stream)
            inp = inp.to(device, memory_format=torch.channels_last)
            target = target.to(device)
            loss, parts = train_step(inp, target)
            iteration += 1
            pixels += inp.numel() // 3
            window.append(parts)

            if iteration % args.log_every == 0 or iteration == args.iters:
                sec = (time.monotonic() - window_start) / len(window)
                mean = {k: float(np.mean([p[k] for p in window])) for k in window[0]}
                log.write(json.dumps({"iter": iteration, "lr": lr, "sec_per_iter": round(sec, 3), **mean,
                                      "crop": inp.shape[-1], "batch": inp.shape[0], "pixels": pixels,
                                      "elapsed": round(elapsed_before + time.monotonic() - started, 1)}) + "\n")  # fmt: skip
                log.flush()
                print(_progress(iteration, args.iters, mean, sec, val), end="", file=sys.stderr, flush=True)
                window, window_start = [], time.monotonic()
            if val_sets and (iteration % args.val_every == 0 or iteration == args.iters):
                val = validate(model, val_sets, device)
                log.write(json.dumps({"iter": iteration, **val}) + "\n")
                log.flush()
                if val["score"] > best_score:
                    best_score = val["score"]
                    save_weights(model, out / "best.pt", weights_metadata(val))
                window_start = time.monotonic()  # validation time is not training speed
            if args.snapshot_every and iteration % args.snapshot_every == 0:
                save_weights(model, out / f"iter-{iteration}.pt", weights_metadata({}))
            if iteration % args.ckpt_every == 0:
                save_checkpoint()
    save_checkpoint()
    save_weights(model, out / "last.pt", weights_metadata({}))
    log.close()
    print(f"\nstopped at iteration {iteration}; checkpoint in {checkpoint_path}", file=sys.stderr)
    return 0
