"""Keep the photo's tonal range: the correction may widen it, never flatten it.

Trained with L1 on pairs whose clipped regions have many possible originals, the network
answers a blown sky or a washed-out wall with their average: flat grey. A photo that went
in with white highlights then comes back with none (99th-percentile luma 0.71-0.79 on the
over-exposed real photos), and a dark photo's lifted shadows come back with no black: the
grey veil people see. ``keep_tonal_range`` undoes only that flattening, with one levels step
on the network's output:

    black = min(black(output), black(photo))      white = max(white(output), white(photo))
    output -> black + (output - black(output)) * (white - black) / (white(output) - black(output))

where ``black`` and ``white`` are the 0.5th and 99.5th percentiles of luma. Everything the
network does between its own black and white points (lifting shadows, toning down
highlights, region by region) is kept, only stretched back to at least the photo's range; if
the network already kept the range, nothing changes, and a photo the network leaves alone
comes back as it was.
"""

from __future__ import annotations

import torch

TONAL_RANGES = ("photo", "network")  # whose range the result keeps at least: the photo's, or the network's as is
QUANTILES = (0.005, 0.995)  # black and white points: luma percentiles, robust to a few outliers
LUMA_601 = (0.299, 0.587, 0.114)  # on sRGB values, as the tonal-range report measures them
_SAMPLE = 1 << 18  # quantiles are taken on at most this many pixels (strided), for speed


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) sRGB in [0, 1] -> (H, W) BT.601 luma."""
    r, g, b = LUMA_601
    return r * rgb[0] + g * rgb[1] + b * rgb[2]


def black_white(rgb: torch.Tensor) -> tuple[float, float]:
    """The (0.5th, 99.5th) percentiles of luma of a (3, H, W) image."""
    y = luma(rgb.float()).flatten()
    step = max(1, y.numel() // _SAMPLE)
    lo, hi = torch.quantile(y[::step], torch.tensor(QUANTILES, dtype=y.dtype))
    return float(lo), float(hi)


def keep_tonal_range(photo: torch.Tensor, corrected: torch.Tensor) -> torch.Tensor:
    """(3, H, W) sRGB in [0, 1], the photo and the network's output -> the output, its black and
    white points stretched to at least the photo's (never narrowed)."""
    in_black, in_white = black_white(photo)
    out_black, out_white = black_white(corrected)
    black, white = min(out_black, in_black), max(out_white, in_white)
    if out_white - out_black < 1e-3 or (black >= out_black and white <= out_white):
        return corrected  # a flat image, or the range was kept: nothing to undo
    gain = (white - black) / (out_white - out_black)
    return (black + (corrected - out_black) * gain).clamp_(0.0, 1.0)
