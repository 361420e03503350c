"""Smooth the result where the photo is flat: no contour bands in skies and walls.

An 8-bit photo's flat areas (a pale sky, a washed-out wall) step by one code value at a time.
Where the network tones such an area down, it also stretches its contrast, and the steps come
out as visible contour bands: in julochka's nearly white sky the output's luma moves 3-8 code
values for each code value of the photo's, and the sky came back in streaks that follow the
photo's isolines. The network's answer there is right on average; only its steps are wrong.

``smooth_flat_regions`` replaces the result, in windows where the photo is flat, by the colour
guided filter of the result with the photo as guide (He, Sun, Tang, "Guided Image Filtering",
TPAMI 2013): where the photo's variance is well below ``FLAT_EPS`` that filter returns the
result's local mean, so a step becomes a ramp across the window. Everywhere else the result is
left as it is, through a weight ``c0^2 / (c^2 + c0^2)`` of the photo's local contrast ``c`` (luma
std over mean, the mean floored at one code value; ``c0 = FLAT_CONTRAST``), averaged over the window
again so it changes smoothly:

    out = result + weight * (guided_filter(photo -> result) - result)

Only flat windows, because the filter alone (a local affine colour map over a 33 px window)
cannot follow the network where it lifts a dark room 20x and keeps its window as it is: used
everywhere it darkened the shadows next to bright edges and shifted the colour of a lamp
(Rodrigo_Valla). And contrast, not variance: with a threshold on variance alone (two code values)
the dark hair of a lifted portrait (y_Gabriele), one or two code values deep in the photo, was
smoothed away with the steps. Part of ``tonal_range="full"`` in ``recnet.inference.pipeline``: applied at the
working resolution right after the tonal-range stretch (which stretches the same steps further),
before the guided upsampling; ``tonal_range="network"`` keeps the network's tones as they are.
"""

from __future__ import annotations

import torch

from recnet.inference.guided_upsample import box_mean, guided_upsample
from recnet.inference.tonal_range import luma

# window radius in pixels of the image the step runs on: the working size in fast mode (640 px long
# side), where bands are narrower than the 33 px window; in native mode the photo's own size, where the
# same window is relatively smaller (wide bands soften less) and the fit's planes peak at about 0.5 GB
# per megapixel (1.4 GB measured at 3 MP), under the native forward's own 1 GB per megapixel
FLAT_RADIUS = 16
FLAT_EPS = (2 / 255) ** 2  # the filter's regularisation: two code values, squared (one left bands visible)
# "flat": the photo's local contrast (luma std / mean) well below 1 %. Relative, not absolute: a dark
# photo's hair or floor varies by one or two code values too, and that is detail, not steps
FLAT_CONTRAST = 0.01


def flatness(photo: torch.Tensor, radius: int = FLAT_RADIUS) -> torch.Tensor:
    """(3, h, w) sRGB photo -> (1, h, w) weight in (0, 1]: near 1 where the photo is flat around a
    pixel, near 0 where it has texture. Each window's weight is averaged again over a window, so it
    fades in over about two radii from an edge, not in a step. The mean is floored at one code value
    (a black window counts as flat)."""
    mean, variance = local_luma_statistics(photo, radius)
    contrast2 = variance / mean.clamp_min(1 / 255) ** 2
    return box_mean(FLAT_CONTRAST**2 / (contrast2 + FLAT_CONTRAST**2), radius)


def local_luma_statistics(photo: torch.Tensor, radius: int = FLAT_RADIUS) -> tuple[torch.Tensor, torch.Tensor]:
    """(3, h, w) sRGB photo -> the (1, h, w) mean and variance of its luma over each window."""
    y = luma(photo.float())[None]
    mean = box_mean(y, radius)
    return mean, (box_mean(y * y, radius) - mean * mean).clamp_min(0)


def guided_filter(photo: torch.Tensor, result: torch.Tensor, radius: int = FLAT_RADIUS, eps: float = FLAT_EPS) -> torch.Tensor:
    """The colour guided filter of ``result`` with ``photo`` as guide, both (3, h, w): the guided
    upsampling's fit (without its detail prior: here flattening is the point), applied at the size it was
    fitted at."""
    full = photo.float().permute(1, 2, 0).contiguous()
    return guided_upsample(photo, result, full, radius, eps).permute(2, 0, 1)


def smooth_flat_regions(
    photo: torch.Tensor, result: torch.Tensor, radius: int = FLAT_RADIUS, eps: float = FLAT_EPS
) -> torch.Tensor:
    """(3, h, w) sRGB photo and its correction -> the correction, smoothed where the photo is flat."""
    return result + flatness(photo, radius) * (guided_filter(photo, result, radius, eps) - result)
