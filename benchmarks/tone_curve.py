"""Can one tone curve per photo, predicted without the target, take back what the network gets wrong
about a photo's overall tone? Measured here; the answer was no (``results/tone_curve.json``).

The idea: the best single curve from the network's result to the target (fitted on the target, one
curve for all three channels with ``KNOTS`` evenly spaced knots) lifts the network's validation scores by
about 4 dB (``oracle``), so a small MLP that predicts that curve from the luma percentiles of the photo
and of the result might keep part of it. Steps:

1. examples: the product's network stage (``recnet.inference.pipeline.network_tones`` at the working
   size, strength 1, no tonal-range step) on the kinds of pairs the network trains on (the training
   photos synthesised with seed 0, a quarter as they are, a quarter with mild errors; every frame and two
   composites of the 80 training bracket scenes) and on its validation sets (40 validation photos with
   seed 1234, 20 as they are; the 19 held-out bracket scenes), keeping ``PIXELS`` sampled (result,
   target) pixel pairs and the features of each. About 25 min on 2 cores; cached in ``--cache``.
2. the curve fitted on the target (``oracle``), a ridge regression from the features to those knots
   (``ridge``), and the MLP (``ToneCurveNet``, loss: minus the mean per-example PSNR), three seeds, scored
   on the validation examples every 5 epochs (``fits``);
3. the product (``evaluate --all``: suggested strength, full tonal range) without the curve, with the
   seed-0 curve before the tonal-range stretch, and with the curve instead of the stretch (``product``).

    python benchmarks/tone_curve.py -o benchmarks/results/tone_curve.json
"""

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import recnet.inference.pipeline as pipeline  # noqa: E402
from recnet import load_model  # noqa: E402
from recnet.evaluation import evaluate  # noqa: E402
from recnet.evaluation.report import commit_of, sha256_of  # noqa: E402
from recnet.inference.guided_upsample import downsample  # noqa: E402
from recnet.inference.tonal_range import BLOWN, CRUSHED, luma_sample  # noqa: E402
from recnet.training import brackets  # noqa: E402
from recnet.training.synthesis import DATASETS, PhotoFolder, SynthesisConfig, rng_for, synthesize_pair  # noqa: E402
from recnet.training.train import AS_IS_CAP, MILD  # noqa: E402

KNOTS = 9  # curve knots at 0, 1/8, ..., 1 of the result's value
QUANTILES = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
FEATURES = 2 * len(QUANTILES) + 4  # luma percentiles of photo and result, and their blown / crushed shares
PIXELS = 4096  # (result, target) pixel pairs kept per example: enough for a curve's MSE
SOURCES = ("synthetic", "real", "identity", "mild")
SEEDS = (0, 1, 2)
EPOCHS = 50  # the validation mean peaks at 25-50 epochs and falls after 100 (a first try: 300 epochs)


def luma_stats(rgb: torch.Tensor) -> torch.Tensor:
    y = luma_sample(rgb)
    q = torch.quantile(y, torch.tensor(QUANTILES, dtype=y.dtype))
    return torch.cat([q, torch.stack([(y > BLOWN).float().mean(), (y < CRUSHED).float().mean()])])


def features(photo: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    """(3, h, w) photo and network result -> (FEATURES,)."""
    return torch.cat([luma_stats(photo), luma_stats(result)]).float()


class ToneCurveNet(nn.Module):
    """features (B, FEATURES) -> knots (B, KNOTS): a monotone curve, the identity at initialisation."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, hidden: int = 64):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.body = nn.Sequential(nn.Linear(FEATURES, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.head = nn.Linear(hidden, KNOTS)  # raw black level and KNOTS - 1 raw rises
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        raw = self.head(self.body((feats - self.mean) / self.std))
        step = 1.0 / (KNOTS - 1)  # softplus(x + log(e^step - 1)) = step at x = 0: the identity
        rises = nn.functional.softplus(raw[:, 1:] + torch.log(torch.expm1(torch.tensor(step))))
        start = 0.25 * torch.tanh(raw[:, :1])
        return torch.cat([start, start + torch.cumsum(rises, dim=1)], dim=1)


def curve(rgb: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """(B, ...) values through each row's piecewise-linear curve (B, KNOTS), clamped to [0, 1]."""
    pos = rgb.clamp(0.0, 1.0) * (KNOTS - 1)
    index = pos.detach().floor().clamp_(max=KNOTS - 2)
    frac = pos - index
    flat = index.long().reshape(len(rgb), -1)
    lo = knots.gather(1, flat).reshape(rgb.shape)
    hi = knots.gather(1, flat + 1).reshape(rgb.shape)
    return (lo + frac * (hi - lo)).clamp(0.0, 1.0)


def pairs_of(photos_dir, brackets_dir, split: str, seed: int = 0):
    """(source, input, target) of the training or the validation side (as ``recnet.training.train``)."""
    config = SynthesisConfig()
    if split == "train":
        photos = PhotoFolder(photos_dir, max_side=1024, luma_range=(70, 180))
        for i in range(len(photos)):
            yield "synthetic", *synthesize_pair(photos[i], rng_for(seed, i), config)[:2]
            if i % 4 == 0:
                yield "identity", photos[i], photos[i]
            elif i % 4 == 2:
                yield "mild", *synthesize_pair(photos[i], rng_for(seed + 1, i), MILD)[:2]
        for k, scene in enumerate(brackets.split_scenes(brackets.list_scenes(brackets_dir)).train):
            loaded = brackets.load_scene(scene, None)
            for frame in loaded.frames:
                yield "real", frame.astype(np.float32) / 255.0, loaded.target
            rng = rng_for(seed + 2, k)
            for _ in range(2):
                dark, bright = brackets.dark_bright(loaded, rng)
                yield "real", brackets.composite(dark, bright, loaded.target, rng), loaded.target
    else:
        photos = PhotoFolder(photos_dir)
        count = min(40, len(photos))
        for i in range(count):
            yield "synthetic", *synthesize_pair(photos[i], rng_for(1234, i), config)[:2]
        for i in range(count // 2):
            yield "identity", photos[i], photos[i]
        for _, inp, target in brackets.validation_pairs(brackets.split_scenes(brackets.list_scenes(brackets_dir)).val):
            yield "real", inp, target


def build(model, photos_dir, brackets_dir, split: str) -> dict:
    rng = np.random.default_rng(0)
    feats, results, targets, sources = [], [], [], []
    start = time.time()
    for kind, inp, target in pairs_of(photos_dir, brackets_dir, split):
        low_h, low_w = pipeline.working_size(*inp.shape[:2])
        low = downsample(torch.from_numpy(np.ascontiguousarray(inp, dtype=np.float32)), low_h, low_w)
        low_target = downsample(torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)), low_h, low_w)
        out, _ = pipeline.network_tones(low, model)
        pick = torch.from_numpy(rng.choice(low_h * low_w, size=PIXELS, replace=low_h * low_w < PIXELS))
        feats.append(features(low, out))
        results.append(out.reshape(3, -1)[:, pick].T.half())
        targets.append(low_target.reshape(3, -1)[:, pick].T.half())
        sources.append(kind)
        if len(sources) % 100 == 0:
            print(f"{split}: {len(sources)} examples, {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    return {"feats": torch.stack(feats), "result": torch.stack(results), "target": torch.stack(targets),
            "source": sources}  # fmt: skip


def psnr_each(curved: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -10.0 * torch.log10(((curved - target) ** 2).mean(dim=(1, 2)) + 1e-6)


def scores(knots: torch.Tensor | None, ex: dict) -> dict:
    """Mean PSNR by source with these knots per example (None: no curve); identity capped as in training."""
    result = ex["result"].float()
    each = psnr_each(result if knots is None else curve(result, knots), ex["target"].float())
    out = {}
    for kind in SOURCES:
        sel = torch.tensor([s == kind for s in ex["source"]])
        if sel.any():
            out[kind] = round(float((each[sel].clamp(max=AS_IS_CAP) if kind == "identity" else each[sel]).mean()), 3)
    out["mean"] = round(float(np.mean(list(out.values()))), 3)
    return out


def oracle_knots(ex: dict) -> torch.Tensor:
    """The least-squares knots from each example's result to its target (hat-function basis)."""
    rows = []
    for r, t in zip(ex["result"].float(), ex["target"].float()):
        pos = r.reshape(-1).clamp(0, 1) * (KNOTS - 1)
        i = pos.floor().clamp(max=KNOTS - 2).long()
        f = pos - i
        basis = torch.zeros(len(pos), KNOTS)
        basis[torch.arange(len(pos)), i] = 1 - f
        basis[torch.arange(len(pos)), i + 1] += f
        rows.append(torch.linalg.solve(basis.T @ basis + 1e-4 * torch.eye(KNOTS), basis.T @ t.reshape(-1)))
    return torch.stack(rows)


def ridge(train: dict, val: dict, lam: float) -> torch.Tensor:
    """Validation knots from a ridge regression of the training oracle knots on the features."""
    x = torch.cat([train["feats"], torch.ones(len(train["feats"]), 1)], 1)
    w = torch.linalg.solve(x.T @ x + lam * torch.eye(x.shape[1]), x.T @ oracle_knots(train))
    return torch.cat([val["feats"], torch.ones(len(val["feats"]), 1)], 1) @ w


def fit(train: dict, val: dict, seed: int) -> tuple[ToneCurveNet, list]:
    """The MLP at its best validation mean (checked every 5 epochs) and the log of the checks."""
    torch.manual_seed(seed)
    net = ToneCurveNet(train["feats"].mean(0), train["feats"].std(0) + 1e-3)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    result, target = train["result"].float(), train["target"].float()
    best, best_state, log = -1e9, None, []
    for epoch in range(1, EPOCHS + 1):
        order = torch.randperm(len(result))
        for start in range(0, len(order), 128):
            idx = order[start : start + 128]
            loss = -psnr_each(curve(result[idx], net(train["feats"][idx])), target[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % 5 == 0:
            with torch.no_grad():
                row = {
                    "epoch": epoch,
                    "train": scores(net(train["feats"]), train),
                    "val": scores(net(val["feats"]), val),
                }
            log.append(row)
            if row["val"]["mean"] > best:
                best, best_state = row["val"]["mean"], {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    return net.eval(), log


def product(net: ToneCurveNet | None, stretch: bool) -> dict:
    """``evaluate --all`` with the curve put before (or instead of) the pipeline's tonal-range stretch."""
    original = pipeline.full_tonal_range

    def tones(result, photo):
        with torch.no_grad():
            curved = curve(result[None], net(features(photo, result)[None]))[0] if net is not None else result
        return original(curved, photo) if stretch else curved

    parser = argparse.ArgumentParser()
    evaluate.configure(parser)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "evaluation.json"
        pipeline.full_tonal_range = tones
        try:
            evaluate.run(parser.parse_args(["--all", "--quiet", "--json-out", str(out)]))
        finally:
            pipeline.full_tonal_range = original
        sections = json.loads(out.read_text())["sections"]
    return {
        "synthetic": sections["synthetic"]["methods"]["recnet"],
        "real_val": sections["real_val"]["methods"]["recnet"],
        "as_is": {k: sections["as_is"][k] for k in ("psnr", "min_psnr")},
        "tonal": {"passed": sections["tonal"]["passed"], "output_mean": sections["tonal"]["mean"]["output"],
                  "p50": {r["name"]: r["output"]["p50"] for r in sections["tonal"]["per_image"]}},
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default=str(DATASETS / "train"))
    parser.add_argument("--val", default=str(DATASETS / "val"))
    parser.add_argument("--brackets", default=str(DATASETS / "brackets"))
    parser.add_argument("--cache", default="runs/tone-curve", help="folder for the examples (train.pt, val.pt)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    start = time.time()
    model = load_model(device="cpu")
    digest = sha256_of(model.weights_path)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    sets = {}
    for split, photos in (("val", args.val), ("train", args.photos)):
        path = cache / f"{split}.pt"
        cached = torch.load(path, weights_only=False) if path.is_file() else None
        if cached is None or cached.get("weights_sha256") != digest:
            cached = {**build(model, photos, args.brackets, split), "weights_sha256": digest}
            torch.save(cached, path)
        sets[split] = cached
    train, val = sets["train"], sets["val"]
    result = {
        "weights_sha256": digest,
        "examples": {split: {k: s["source"].count(k) for k in SOURCES} for split, s in sets.items()},
        "val": {"none": scores(None, val), "oracle": scores(oracle_knots(val), val),
                "ridge": {str(lam): scores(ridge(train, val, lam), val) for lam in (0.01, 1.0)}},
        "fits": {},
    }  # fmt: skip
    nets = {}
    for seed in SEEDS:
        nets[seed], log = fit(train, val, seed)
        result["fits"][str(seed)] = log
        print(f"seed {seed}: {json.dumps(max(log, key=lambda r: r['val']['mean']))}", file=sys.stderr, flush=True)
    result["product"] = {"none": product(None, True), "curve_then_stretch": product(nets[0], True),
                         "curve_only": product(nets[0], False)}  # fmt: skip
    commit, dirty = commit_of()
    result.update({"commit": commit, "commit_dirty": dirty, "seconds": round(time.time() - start, 1),
                   "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
                   "torch": torch.__version__})  # fmt: skip
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result["product"][k] for k in result["product"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
