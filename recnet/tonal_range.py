"""Keep the photo's tonal range: the correction may widen it, never flatten it.

Trained with L1 on pairs whose clipped regions have many possible originals, the network
answers a blown sky or a washed-out wall with their average: flat grey. A photo that went
in with white highlights then comes back with none (99th-percentile luma 0.71-0.79 on the
over-exposed real photos), and a dark photo's lifted shadows come back with no black: the
grey veil people see. ``keep_tonal_range`` undoes only that flattening, with a two-segment
levels curve on the network's output that keeps its median luma where it is:

    black = min(black(output), black(photo))      white = max(white(output), white(photo))
    below the median: [black(output), median] -> [black, median]
    above the median: [median, white(output)] -> [median, white]

where ``black``, ``median`` and ``white`` are the 0.5th, 50th and 99.5th percentiles of luma.
The mid-tones and everything the network does there (lifting shadows, toning down highlights,
region by region) stay; only the ends are stretched back to at least the photo's range. An
output that kept the range is not touched, and a photo the network leaves alone comes back as
it was. Pinning the median matters: one linear stretch from black to white brightened the
mid-tones of every toned-down photo and cost 1.7 dB on the real validation pairs; this curve
costs 0.3 dB there and 1.3 dB on the synthetic test (whose targets often have no white where
the input clipped), for the tonal range the real photos need (the model card has the figures).
"""

from __future__ import annotations

import torch

TONAL_RANGES = ("photo", "network")  # whose range the result keeps at least: the photo's, or the network's as is
QUANTILES = (0.005, 0.5, 0.995)  # black point, median, white point: luma percentiles
LUMA_601 = (0.299, 0.587, 0.114)  # on sRGB values, as the tonal-range report measures them
_SAMPLE = 1 << 18  # quantiles are taken on at most this many pixels (strided), for speed


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) sRGB in [0, 1] -> (H, W) BT.601 luma."""
    r, g, b = LUMA_601
    return r * rgb[0] + g * rgb[1] + b * rgb[2]


def black_white(rgb: torch.Tensor) -> tuple[float, float, float]:
    """The (0.5th, 50th, 99.5th) percentiles of luma of a (3, H, W) image."""
    y = luma(rgb.float()).flatten()
    step = max(1, y.numel() // _SAMPLE)
    lo, mid, hi = torch.quantile(y[::step], torch.tensor(QUANTILES, dtype=y.dtype))
    return float(lo), float(mid), float(hi)


def keep_tonal_range(photo: torch.Tensor, corrected: torch.Tensor) -> torch.Tensor:
    """(3, H, W) sRGB in [0, 1], the photo and the network's output -> the output with its black
    and white points stretched to at least the photo's (never narrowed), its median kept."""
    in_black, _, in_white = black_white(photo)
    out_black, mid, out_white = black_white(corrected)
    black, white = min(out_black, in_black), max(out_white, in_white)
    if not out_black + 1e-4 < mid < out_white - 1e-4 or (black >= out_black and white <= out_white):
        return corrected  # a flat image, or the range was kept: nothing to undo
    below = black + (corrected - out_black) * ((mid - black) / (mid - out_black))
    above = mid + (corrected - mid) * ((white - mid) / (out_white - mid))
    return torch.where(corrected < mid, below, above).clamp_(0.0, 1.0)
