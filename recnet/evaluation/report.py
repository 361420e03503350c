"""The evaluation report behind ``python -m recnet evaluate --all``: sections, targets, pass flags.

Every section takes ``correct``, the product's correction as a function ``HxWx3 float32 ->
HxWx3 float32`` (``recnet.evaluation.evaluate.model_method``, i.e. ``recnet.inference.pipeline.correct_rgb``), and
returns a dict with its means, its ``target`` and a ``pass`` flag:

- ``synthetic``: pairs synthesised from well-exposed photos (``recnet.evaluation.evaluate.synthetic_pairs``);
  RECNet's mean PSNR at least ``MIN_SYNTHETIC_GAIN_DB`` over the input's (identity).
- ``real_val``: the validation scenes of a bracket folder (``recnet.training.brackets``: darkest frame,
  brightest frame and one composite per scene against the scene's exposure fusion); RECNet
  above identity and CLAHE on both mean PSNR and mean SSIM.
- ``as_is``: well-exposed photos corrected as they are and scored against themselves (do no
  harm); mean PSNR at least ``MIN_AS_IS_PSNR_DB``. A photo given back unchanged (suggested
  strength 0) has an infinite PSNR: each photo's PSNR is capped at ``AS_IS_PSNR_CAP`` so that
  the mean stays a mean, and the unchanged photos are counted.
- ``tonal``: photos without targets, scaled to a long side of ``TONAL_LONG_SIDE`` (Lanczos);
  the 1st/50th/99th percentiles of BT.601 luma (sRGB values in [0, 1]) of input and output,
  one row per photo; every output must reach ``MIN_P99`` at the 99th and ``MAX_P1`` at the 1st.

Outputs are quantised to 8 bits before they are measured, as the product saves them.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from recnet.evaluation.baselines import METHODS as BASELINES
from recnet.evaluation.evaluate import _read, evaluate_pairs, synthetic_pairs, to_u8
from recnet.evaluation.metrics import image_scores
from recnet.image_io import IMAGE_SUFFIXES, LUMA_601
from recnet.training.synthesis import DATASETS

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOURCES = {  # what --all runs
    "synthetic": DATASETS / "test",
    "real_val": DATASETS / "brackets",
    "as_is": DATASETS / "test",
    "tonal": DATASETS / "real",
}
SECTIONS = tuple(DEFAULT_SOURCES)
REPORT_BASELINES = ("identity", "clahe")  # shown beside RECNet

MIN_SYNTHETIC_GAIN_DB = 6.0
MIN_AS_IS_PSNR_DB = 30.0
AS_IS_PSNR_CAP = 50.0  # dB: an RMS difference of 0.8 levels in 255
TONAL_LONG_SIDE = 1024
MIN_P99, MAX_P1 = 0.85, 0.12

Correct = Callable[[np.ndarray], np.ndarray]
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def display_path(path: str | Path) -> str:
    """``path`` relative to the repository root where it can be (``../shared/...``), else as is.

    Symbolic links are kept as they are (``abspath``, not ``resolve``): a ``../shared`` that links
    elsewhere is still reported as ``../shared``.
    """
    try:
        return os.path.relpath(os.path.abspath(path), REPO_ROOT)
    except ValueError:  # another drive
        return str(path)


def image_files(root: str | Path, limit: int | None = None) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder at {root}")
    paths = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images in {root}")
    return paths[:limit] if limit else paths


# --------------------------------------------------------------------------------------
# pairs with targets: synthetic and real validation


def _counted(progress: Progress, section: str, count: int) -> Progress:
    """``evaluate_pairs``'s "i name scores" lines as "section [i/count] name scores"."""
    return lambda line: progress(f"{section} [{line.split()[0]}/{count}] {line.split(' ', 1)[1]}")


def _methods(correct: Correct, baselines) -> dict:
    return {"recnet": correct, **{name: BASELINES[name] for name in baselines}}


def synthetic_section(
    correct: Correct,
    root,
    seed: int = 0,
    limit=None,
    baselines=REPORT_BASELINES,
    per_image: bool = False,
    progress: Progress = _quiet,
) -> dict:
    count, pairs = synthetic_pairs(root, seed, limit)
    progress(f"synthetic: {count} pairs from {root}, seed {seed}")
    result = evaluate_pairs(
        pairs, None, _methods(correct, baselines), per_image=per_image, progress=_counted(progress, "synthetic", count)
    )
    gain = result["methods"]["recnet"]["psnr"] - result["methods"]["identity"]["psnr"]
    return {
        "source": display_path(root),
        "seed": seed,
        **result,
        "recnet_gain_over_identity_db": round(gain, 4),
        "target": {
            "rule": f"RECNet mean PSNR >= identity + {MIN_SYNTHETIC_GAIN_DB} dB",
            "min_gain_db": MIN_SYNTHETIC_GAIN_DB,
        },
        "pass": bool(gain >= MIN_SYNTHETIC_GAIN_DB),
    }


def real_val_section(
    correct: Correct, root, limit=None, baselines=REPORT_BASELINES, per_image: bool = False, progress: Progress = _quiet
) -> dict:
    """``limit``: the first N validation scenes (their pairs are those training validates on)."""
    from recnet.training import brackets  # needs OpenCV for the fusion

    scenes = brackets.split_scenes(brackets.list_scenes(root)).val
    scenes = scenes[:limit] if limit else scenes
    if not scenes:
        raise FileNotFoundError(f"no validation scenes in {root}")
    progress(f"real_val: fusing {len(scenes)} validation scenes of {root}")
    pairs = brackets.validation_pairs(scenes)
    count = len(pairs)
    result = evaluate_pairs(
        pairs, None, _methods(correct, baselines), per_image=per_image, progress=_counted(progress, "real_val", count)
    )
    means = result["methods"]
    others = [name for name in ("identity", "clahe") if name in means]
    beats = all(means["recnet"][k] > means[name][k] for name in others for k in ("psnr", "ssim"))
    return {
        "source": display_path(root),
        "scenes": [s.name for s in scenes],
        **result,
        "target": {"rule": "RECNet mean PSNR and mean SSIM above identity's and CLAHE's", "compared_with": others},
        "pass": bool(beats and len(others) == 2),
    }


# --------------------------------------------------------------------------------------
# photos without targets: do no harm and tonal range


def as_is_section(correct: Correct, root, limit=None, progress: Progress = _quiet) -> dict:
    """Each photo of ``root`` corrected as it is and scored (PSNR, SSIM) against itself."""
    paths = image_files(root, limit)
    rows = []
    for i, path in enumerate(paths, 1):
        inp = _read(path)
        inp_u8 = to_u8(inp)
        out_u8 = to_u8(correct(inp))
        psnr, ssim = image_scores(out_u8, inp_u8)
        psnr = min(psnr, AS_IS_PSNR_CAP)
        rows.append({"name": path.name, "psnr": round(psnr, 4), "ssim": round(ssim, 5),
                     "unchanged": bool(np.array_equal(out_u8, inp_u8))})  # fmt: skip
        progress(f"as_is [{i}/{len(paths)}] {path.name} psnr={psnr:.2f}")
    psnr = float(np.mean([r["psnr"] for r in rows]))
    return {
        "source": display_path(root),
        "photos": len(rows),
        "psnr": round(psnr, 4),
        "ssim": round(float(np.mean([r["ssim"] for r in rows])), 5),
        "min_psnr": min(r["psnr"] for r in rows),
        "median_psnr": round(float(np.median([r["psnr"] for r in rows])), 4),
        "unchanged": sum(r["unchanged"] for r in rows),
        "psnr_cap_db": AS_IS_PSNR_CAP,
        "per_image": rows,
        "target": {
            "rule": f"mean PSNR of output vs input >= {MIN_AS_IS_PSNR_DB} dB",
            "min_psnr_db": MIN_AS_IS_PSNR_DB,
        },
        "pass": bool(psnr >= MIN_AS_IS_PSNR_DB),
    }


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of HxWx3 sRGB values in [0, 1]."""
    return np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0) @ np.array(LUMA_601)


def tonal_percentiles(rgb: np.ndarray) -> dict:
    """{"p1", "p50", "p99"}: percentiles of the BT.601 luma of ``rgb`` (numpy's linear rule)."""
    p1, p50, p99 = np.percentile(luma(rgb), [1, 50, 99])
    return {"p1": round(float(p1), 4), "p50": round(float(p50), 4), "p99": round(float(p99), 4)}


def scale_long_side(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """The 8-bit image scaled (up or down, Lanczos) so that its long side is ``long_side``."""
    img = Image.fromarray(to_u8(rgb))
    s = long_side / max(img.size)
    size = (max(1, round(img.width * s)), max(1, round(img.height * s)))
    if size != img.size:
        img = img.resize(size, Image.LANCZOS)
    return np.asarray(img, dtype=np.float32) / 255.0


def tonal_section(
    correct: Correct, root, limit=None, long_side: int = TONAL_LONG_SIDE, progress: Progress = _quiet
) -> dict:
    paths = image_files(root, limit)
    rows = []
    for i, path in enumerate(paths, 1):
        inp = scale_long_side(_read(path), long_side)
        out = to_u8(correct(inp)).astype(np.float32) / 255.0
        before, after = tonal_percentiles(inp), tonal_percentiles(out)
        ok = after["p99"] >= MIN_P99 and after["p1"] <= MAX_P1
        rows.append(
            {
                "name": path.name,
                "size": [inp.shape[1], inp.shape[0]],
                "input": before,
                "output": after,
                "pass": bool(ok),
            }
        )
        progress(
            f"tonal [{i}/{len(paths)}] {path.name} p1 {before['p1']:.3f}->{after['p1']:.3f} "
            f"p99 {before['p99']:.3f}->{after['p99']:.3f}{'' if ok else ' FAIL'}"
        )

    def mean(side: str) -> dict:
        return {k: round(float(np.mean([r[side][k] for r in rows])), 4) for k in ("p1", "p50", "p99")}

    return {
        "source": display_path(root),
        "photos": len(rows),
        "long_side": long_side,
        "mean": {"input": mean("input"), "output": mean("output")},
        "passed": sum(r["pass"] for r in rows),
        "per_image": rows,
        "target": {
            "rule": f"every photo: output 99th-percentile luma >= {MIN_P99} and 1st <= {MAX_P1}",
            "min_p99": MIN_P99,
            "max_p1": MAX_P1,
        },
        "pass": all(r["pass"] for r in rows),
    }


# --------------------------------------------------------------------------------------
# provenance


def _git(root, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20, check=True)
    return done.stdout.strip()


def commit_of(root: str | Path = REPO_ROOT) -> tuple[str, bool | None]:
    """(``git rev-parse HEAD``, tracked files changed?) of ``root``; ("unknown", None) without git."""
    try:
        head = _git(root, "rev-parse", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
        return head or "unknown", bool(dirty)
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def sha256_of(path: str | Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def provenance() -> dict:
    commit, dirty = commit_of()
    return {
        "commit": commit,
        "commit_dirty": dirty,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def run_sections(
    correct: Correct,
    sources: dict,
    seed: int = 0,
    limit=None,
    baselines=REPORT_BASELINES,
    per_image: bool = False,
    progress: Progress = _quiet,
) -> dict:
    """``sources`` maps section names (``SECTIONS``) to folders; returns
    ``{"sections": {name: section}, "pass": {name: bool}, "all_pass": bool}`` in ``SECTIONS`` order."""
    unknown = set(sources) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown section(s) {sorted(unknown)}: choose from {SECTIONS}")
    run = {
        "synthetic": lambda root: synthetic_section(correct, root, seed, limit, baselines, per_image, progress),
        "real_val": lambda root: real_val_section(correct, root, limit, baselines, per_image, progress),
        "as_is": lambda root: as_is_section(correct, root, limit, progress),
        "tonal": lambda root: tonal_section(correct, root, limit, progress=progress),
    }
    sections = {name: run[name](sources[name]) for name in SECTIONS if name in sources}
    passes = {name: section["pass"] for name, section in sections.items()}
    return {"sections": sections, "pass": passes, "all_pass": all(passes.values())}
