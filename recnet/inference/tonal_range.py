"""Give the result a full tonal range: no grey veil, and no clipping put back.

Trained with L1 on pairs whose clipped regions have many possible originals, the network
answers a blown sky or a washed-out wall with their average: flat grey. A photo that went
in with white highlights then comes back with none (99th-percentile luma 0.71-0.79 on the
over-exposed real photos), and a dark photo's lifted shadows come back with no black: the
grey veil people see. ``full_tonal_range`` undoes that flattening with a two-segment levels
curve on the network's output that keeps its median luma where it is:

    black = min(black(output), FULL_RANGE[0])
    white = max(white(output), FULL_RANGE[1])
    below the median: [black(output), median] -> [black, median]
    above the median: [median, white(output)] -> [median, white]

where ``black``, ``median`` and ``white`` are the 1st, 50th and 99th percentiles of luma (the
ones the tonal-range report measures), and ``FULL_RANGE[1]`` is raised for a blown photo (below). The mid-tones and everything the network does there
(lifting shadows, toning down highlights, region by region) stay; the ends reach at least
``FULL_RANGE``, the range of a well-exposed photo, as an "auto levels" does. A washed-out photo
(no black in it at all: 1st percentile 0.33-0.43 on two of the real photos) would otherwise keep
its haze, and a dim one its grey top. Each segment is stretched at most ``MAX_STRETCH`` times, so
a nearly flat image (fog, a white wall) is not blown into noise. An output that already spans the
range is not touched.

The photo's own black and white points are not targets: in a badly exposed photo they are where
it clipped (white 1.0 when blown, black 0.0 when crushed), and stretching the output back out to
them put back the clipping the network had just toned down. Dropping them gained about 0.5 dB on both
the synthetic test and the real validation pairs (the model card has the figures).

Pinning the median matters: one linear stretch from black to white brightened the mid-tones of
every toned-down photo and cost 1.7 dB on the real validation pairs.

The white point rises with how much of the photo was blown (``white_point``): from ``FULL_RANGE``'s
0.93 for a photo with at most 1 % of it above ``BLOWN`` to ``BLOWN_WHITE`` (0.97) from 6 % on. A blown
sky or wall has nothing left in it to recover, and at 0.93 it reads as flat light grey paper; at 0.97 it
reads as white. A photo with its own highlights intact keeps the well-exposed white point, so nothing
that was not blown is pushed brighter. Measured (the model card has the figures): a blind reviewer
preferred the raised white point on the three real photos where it shows (Justin's sky, the prom
photo's white wall and windows, the garden portrait's wall and clouds) and saw no difference on the
other five; it costs about 0.3 dB on the synthetic test and on the real validation pairs, whose
targets have detail in those areas, and gains on do no harm.
"""

from __future__ import annotations

import torch

from recnet.image_io import LUMA_601

TONAL_RANGES = ("full", "network")  # the result spans at least FULL_RANGE, or the network's range as is
QUANTILES = (0.01, 0.5, 0.99)  # black point, median, white point: luma percentiles
# black and white point every result reaches at least: a well-exposed photo's. The white is the median
# 99th percentile of the 1,633 well-exposed photos of ../shared/datasets (0.93; 0.90 left blown walls a
# flat light grey), the black a little below their median 1st percentile (0.055; 0.04 kept 0.003 more
# SSIM on the real validation pairs): benchmarks/results/well_exposed_range.json
FULL_RANGE = (0.04, 0.93)
BLOWN, CRUSHED = 0.95, 0.03  # luma above which a pixel counts as blown to white, below which as crushed to black
# the white point rises from FULL_RANGE[1] to BLOWN_WHITE as the photo's share of blown pixels goes from
# BLOWN_SHARE[0] to BLOWN_SHARE[1] (benchmarks/tonal_range_variants.py, blown_white_0.97)
BLOWN_SHARE = (0.01, 0.06)
BLOWN_WHITE = 0.97
MAX_STRETCH = 3.0  # the most either segment of the levels curve is stretched
TONAL_RANGE_HELP = ("full (default): no halo in a blown sky next to a subject, black and white points at least a "
                    "well-exposed photo's (never a flattened grey result), and no contour bands where the photo is flat; "
                    "network: the network's own tones")
_SAMPLE = 1 << 18  # quantiles are taken on at most this many pixels (strided), for speed


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) sRGB in [0, 1] -> (H, W) BT.601 luma."""
    r, g, b = LUMA_601
    return r * rgb[0] + g * rgb[1] + b * rgb[2]


def strided_sample(values: torch.Tensor) -> torch.Tensor:
    """At most about ``_SAMPLE`` of ``values`` (strided), flat: enough for a percentile, for speed."""
    flat = values.flatten()
    return flat[:: max(1, flat.numel() // _SAMPLE)]


def luma_sample(rgb: torch.Tensor) -> torch.Tensor:
    """The luma of at most ``_SAMPLE`` pixels (strided) of a (3, H, W) image, flat."""
    return strided_sample(luma(rgb.float()))


def luma_quantiles(y: torch.Tensor, quantiles) -> list[float]:
    """Quantiles of flat luma values (``luma_sample``)."""
    return torch.quantile(y, torch.tensor(quantiles, dtype=y.dtype)).tolist()


def black_white(rgb: torch.Tensor) -> tuple[float, float, float]:
    """The (1st, 50th, 99th) percentiles of luma of a (3, H, W) image."""
    lo, mid, hi = luma_quantiles(luma_sample(rgb), QUANTILES)
    return lo, mid, hi


def level_points(corrected: torch.Tensor, black: float, white: float) -> tuple[float, ...] | None:
    """The levels curve's points: (output black, median, output white, new black, new white), the new
    ends moved out towards ``black`` and ``white`` (never in, each segment stretched at most
    ``MAX_STRETCH`` times); None for a flat image, which has no range to stretch."""
    out_black, mid, out_white = black_white(corrected)
    if not out_black + 1e-4 < mid < out_white - 1e-4:
        return None
    black = max(min(out_black, black), mid - MAX_STRETCH * (mid - out_black))
    white = min(max(out_white, white), mid + MAX_STRETCH * (out_white - mid))
    return out_black, mid, out_white, black, white


def stretch_levels(corrected: torch.Tensor, black: float, white: float) -> torch.Tensor:
    """(3, H, W) sRGB in [0, 1] -> its black and white points moved out towards ``black`` and
    ``white`` (``level_points``), its median kept: the two-segment levels curve of this module's docstring."""
    points = level_points(corrected, black, white)
    if points is None:
        return corrected  # a flat image: no range to stretch
    out_black, mid, out_white, black, white = points
    if black >= out_black and white <= out_white:
        return corrected  # the range is there already: nothing to undo
    below = black + (corrected - out_black) * ((mid - black) / (mid - out_black))
    above = mid + (corrected - mid) * ((white - mid) / (out_white - mid))
    return torch.where(corrected < mid, below, above).clamp_(0.0, 1.0)


def ramp(value: float | torch.Tensor, start: float, end: float) -> float | torch.Tensor:
    """0 at ``start``, 1 at ``end``, linear between and flat outside; of a float, or of each element of a tensor."""
    x = (value - start) / (end - start)
    return x.clamp(0.0, 1.0) if isinstance(x, torch.Tensor) else min(1.0, max(0.0, x))


def white_point(photo: torch.Tensor) -> float:
    """The white point a result reaches at least, for this (3, H, W) photo: a well-exposed photo's, raised
    towards ``BLOWN_WHITE`` by the share of the photo blown to white."""
    blown = float((luma_sample(photo) > BLOWN).float().mean())
    return FULL_RANGE[1] + ramp(blown, *BLOWN_SHARE) * (BLOWN_WHITE - FULL_RANGE[1])


def full_tonal_range(corrected: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """(3, H, W) sRGB in [0, 1], the network's output for ``photo`` (the same size) -> the output with its
    black and white points stretched to at least ``FULL_RANGE[0]`` and ``white_point(photo)`` (never
    narrowed), its median kept."""
    return stretch_levels(corrected, FULL_RANGE[0], white_point(photo))
