"""Build demo/examples/ (the example photos, examples.json and ATTRIBUTION.md) from the shared datasets.

Run once from the repository root: ``python -m demo.make_examples [--datasets ../shared/datasets]``.
The output is committed; the demo never runs this.

Two kinds of examples, all redistributable (see ``../shared/datasets/README.md``):

- real photos that came out badly exposed (``real/``), only those licensed CC BY 2.0 or
  CC BY-SA 2.0 (the NC ones are left out: a public Space may count as commercial use);
  big ones scaled to a long side of 1600 px;
- the well-exposed demo photos (``examples/``: Kodak release, CC0, CC BY 4.0) with a mixed
  exposure simulated by ``recnet.training.synthesis`` (some regions pushed down, others up, as a camera
  does to a scene with too much dynamic range): the kind of photo the model is for. Their
  originals are already well exposed, and the model is not meant for those.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from recnet.training.synthesis import SynthesisConfig, rng_for, synthesize_pair

HERE = Path(__file__).resolve().parent
OUT = HERE / "examples"
LONG_SIDE = 1600
JPEG_QUALITY = 92
SEED = 2024
# mixed exposure only (no single-kind images), no JPEG round trip (we save as JPEG anyway)
CONFIG = SynthesisConfig(p_under_only=0.0, p_over_only=0.0, p_jpeg=0.0, under_ev=(1.5, 2.5), over_ev=(1.0, 2.0))

CC = {
    "CC BY 2.0": "https://creativecommons.org/licenses/by/2.0/",
    "CC BY-SA 2.0": "https://creativecommons.org/licenses/by-sa/2.0/",
    "CC BY 4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC0 1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "Kodak release": "",
}
REAL_SOURCE = "Flickr, via GitHub mahmoudnafifi/Exposure_Correction (example_images/)"
KODAK_SOURCE = "Kodak Lossless True Color Image Suite, via GitHub MohamedBakrAli/Kodak-Lossless-True-Color-Image-Suite"
LOMIRI_SOURCE = "Debian package lomiri-wallpapers-16.04 20.04.0-2 (usr/share/backgrounds/)"
KODAK_LICENCE = "Kodak release"  # "released by the Eastman Kodak Company for unrestricted usage"

# (output name, source folder, source file, caption, author, licence, source, synthetic?)
EXAMPLES = [
    ("real_garden_portrait.jpg", "real", "Roland_Tanglao_CC_BY_2.0.jpg", "Garden portrait (real)",
     "Roland Tanglao", "CC BY 2.0", REAL_SOURCE, False),
    ("real_prom_photo.jpg", "real", "Probably_Okay_photo4_CC_BY_SA_2.0.jpg", "Prom photo (real)",
     '"Probably Okay!"', "CC BY-SA 2.0", REAL_SOURCE, False),
    ("mixed_lighthouse.jpg", "examples", "kodak_kodim21.png", "Lighthouse (simulated)",
     "Eastman Kodak Company", KODAK_LICENCE, KODAK_SOURCE + " (kodim21)", True),
    ("mixed_shutters.jpg", "examples", "kodak_kodim07.png", "Window and flowers (simulated)",
     "Eastman Kodak Company", KODAK_LICENCE, KODAK_SOURCE + " (kodim07)", True),
    ("mixed_hats.jpg", "examples", "kodak_kodim03.png", "Hats (simulated)",
     "Eastman Kodak Company", KODAK_LICENCE, KODAK_SOURCE + " (kodim03)", True),
    ("mixed_rafting.jpg", "examples", "kodak_kodim14.png", "Rafting (simulated)",
     "Eastman Kodak Company", KODAK_LICENCE, KODAK_SOURCE + " (kodim14)", True),
    ("mixed_parrots.jpg", "examples", "kodak_kodim23.png", "Parrots (simulated)",
     "Eastman Kodak Company", KODAK_LICENCE, KODAK_SOURCE + " (kodim23)", True),
    ("mixed_dandelions.jpg", "examples", "wall_lomiri_seeding_by_Clements_Engelhardt.jpg", "Dandelions (simulated)",
     "Clemens Engelhardt, 2018", "CC0 1.0", LOMIRI_SOURCE + " seeding_by_Clements_Engelhardt.jpg", True),
    ("mixed_mountains.jpg", "examples", "wall_lomiri_picosdeeuropa_by_Aitzol_Berasategi.jpg",
     "Picos de Europa (simulated)", "Aitzol Berasategi, 2018", "CC BY 4.0",
     LOMIRI_SOURCE + " picosdeeuropa_by_Aitzol_Berasategi.jpg", True),
    ("mixed_stream.jpg", "examples", "wall_lomiri_life_by_Aitzol_Berasategi.jpg", "Forest stream (simulated)",
     "Aitzol Berasategi, 2018", "CC BY 4.0", LOMIRI_SOURCE + " life_by_Aitzol_Berasategi.jpg", True),
    ("mixed_fig.jpg", "examples", "wall_lomiri_Picture_0B_by_freespace.jpg", "Fig (simulated)",
     'Trevor "Freespace", 2018', "CC BY 4.0", LOMIRI_SOURCE + " Picture_0B_by_freespace.jpg", True),
]


def _fit(img: Image.Image) -> tuple[Image.Image, bool]:
    if max(img.size) <= LONG_SIDE:
        return img, False
    scale = LONG_SIDE / max(img.size)
    size = (round(img.width * scale), round(img.height * scale))
    return img.resize(size, Image.LANCZOS), True


def build(datasets: Path) -> list[dict]:
    OUT.mkdir(exist_ok=True)
    records = []
    for index, (name, folder, source, caption, author, licence, origin, synthetic) in enumerate(EXAMPLES):
        src = datasets / folder / source
        with Image.open(src) as opened:
            img = ImageOps.exif_transpose(opened).convert("RGB")
        original_size = img.size
        img, resized = _fit(img)
        changes = []
        if source.startswith("wall_lomiri_"):
            changes.append("the original wallpaper was scaled to a long side of 1600 px when the dataset was made")
        if synthetic:
            photo = np.asarray(img, dtype=np.float32) / 255.0
            degraded, _, _ = synthesize_pair(photo, rng_for(SEED, index), CONFIG)
            img = Image.fromarray(np.round(degraded * 255).astype(np.uint8))
            changes.append(f"mixed exposure simulated with recnet.training.synthesis (seed {SEED}, index {index})")
        if resized:
            changes.append(f"resized from {original_size[0]}x{original_size[1]} to {img.width}x{img.height}")
        if not synthetic and not resized and src.suffix.lower() in (".jpg", ".jpeg"):
            shutil.copyfile(src, OUT / name)
            changes.append("none (the original file)")
        else:
            img.save(OUT / name, quality=JPEG_QUALITY, subsampling=0 if synthetic else 2)
            changes.append(f"saved as JPEG quality {JPEG_QUALITY}")
        records.append({
            "file": name, "caption": caption, "author": author, "licence": licence,
            "licence_url": CC[licence], "source": f"{origin}: {source}" if folder == "real" else origin,
            "changes": "; ".join(changes), "width": img.width, "height": img.height, "real": not synthetic,
        })
    (OUT / "examples.json").write_text(json.dumps(records, indent=1) + "\n")
    (OUT / "ATTRIBUTION.md").write_text(attribution_markdown(records))
    return records


def attribution_markdown(records: list[dict]) -> str:
    lines = [
        "# Example photos: credits and licences",
        "",
        "Built by `python -m demo.make_examples` from `../shared/datasets` (see its README).",
        "\"Real\" photos are genuine exposure failures; \"simulated\" ones are well-exposed photos",
        "whose exposure was spoiled on purpose by `recnet.training.synthesis` (regions pushed 1.5-2.5 EV down",
        "and 1-2 EV up in linear light, with sensor noise and clipping), to show what the model is for.",
        "The Kodak images were released by the Eastman Kodak Company for unrestricted usage.",
        "Adaptations of the CC BY-SA photo would be shared under CC BY-SA 2.0; it is included unchanged.",
        "",
        "| File | Author | Licence | Source | Changes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in records:
        licence = f"[{r['licence']}]({r['licence_url']})" if r["licence_url"] else "released for unrestricted usage"
        lines.append(f"| `{r['file']}` | {r['author']} | {licence} | {r['source']} | {r['changes']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=HERE.parent.parent / "shared" / "datasets")
    args = parser.parse_args()
    for r in build(args.datasets):
        print(f"{r['file']:28s} {r['width']}x{r['height']}  {r['changes']}")


if __name__ == "__main__":
    main()
