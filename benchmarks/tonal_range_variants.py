"""The tonal-range step's variants, measured: ``evaluate --all`` (the product's defaults, shipped
weights) with ``recnet.inference.pipeline.full_tonal_range`` swapped for each variant below. The model
card quotes the result; it is how the shipped step was chosen.

    python benchmarks/tonal_range_variants.py [VARIANT ...]   # writes benchmarks/results/tonal_range_variants/VARIANT.json

``ends_weighted`` is a curve tried and not kept: the same end points, reached by moving mostly the tones
near each end (``u ** 3`` between the untouched tones and the linear stretch, like an editor's Whites and
Blacks sliders) instead of every tone of the segment in proportion. It kept the network's mid-tones and
scored better, but the pictures came back flatter: lifted shadows stay lifted, so the deer photo
(frostnip907) looked hazier.

``photo_points`` is an earlier step (the result also stretched to the photo's own black and white
points). ``full_0.93`` is the step before the white point rose with the photo's blown share; ``blown_white_0.97``
is the shipped step (``recnet.inference.tonal_range.full_tonal_range``).

Each variant is ``step(corrected, photo)``: the network's output and the photo, both (3, h, w) at working size.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


import torch  # noqa: E402

import recnet.inference.pipeline as pipeline  # noqa: E402
from recnet.__main__ import main  # noqa: E402
from recnet.inference.tonal_range import (  # noqa: E402
    FULL_RANGE,
    black_white,
    full_tonal_range,
    level_points,
    stretch_levels,
)

OUT = Path(__file__).resolve().parent / "results" / "tonal_range_variants"


def levels(full_range, photo_points=False, black_end=True, white_end=True):
    """The step with black and white points at least ``full_range`` (and the photo's, if asked)."""

    def step(corrected, photo):
        black, white = full_range
        if photo_points:
            in_black, _, in_white = black_white(photo)
            black, white = min(black, in_black), max(white, in_white)
        # a target of 1 for the black (0 for the white) never moves that end: stretch_levels never narrows
        return stretch_levels(corrected, black if black_end else 1.0, white if white_end else 0.0)

    return step


def ends_weighted(power=3.0):
    """The shipped end points (``level_points``), reached with ``end_curve``."""

    def end_curve(u, ratio):  # u: distance from the median, 1 at the output's end; ratio: output span / new span
        inside = u.clamp(max=1.0)
        return torch.where(u > 1.0, u, ratio * inside + (1.0 - ratio) * inside.pow(power))

    def step(corrected, photo):
        points = level_points(corrected, *FULL_RANGE)
        if points is None:
            return corrected
        out_black, mid, out_white, black, white = points
        below = mid - (mid - black) * end_curve(
            (mid - corrected) / (mid - out_black), (mid - out_black) / (mid - black)
        )
        above = mid + (white - mid) * end_curve(
            (corrected - mid) / (out_white - mid), (out_white - mid) / (white - mid)
        )
        return torch.where(corrected < mid, below, above).clamp_(0.0, 1.0)

    return step


VARIANTS = {
    "photo_points": levels((0.04, 0.90), photo_points=True),  # the step before
    "full_0.90": levels((0.04, 0.90)),
    "full_0.93": levels((0.04, 0.93)),  # the step before (FULL_RANGE alone)
    "full_0.055_0.93": levels((0.055, 0.93)),
    "full_0.96": levels((0.04, 0.96)),
    "full_0.97": levels((0.04, 0.97)),
    "blown_white_0.97": full_tonal_range,  # shipped: the white point rises to 0.97 with the photo's blown share
    "white_end_only": levels((0.04, 0.90), black_end=False),
    "black_end_only": levels((0.04, 0.90), white_end=False),
    "ends_weighted": ends_weighted(),
}

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or VARIANTS:
        pipeline.full_tonal_range = VARIANTS[name]
        main(["evaluate", "--all", "--quiet", "--json-out", str(OUT / f"{name}.json")])
