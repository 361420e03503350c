"""No halo in a blown sky next to a subject: the correction there is the blown area's own.

The network decides by region, and its region mask is blurred (31x31 at the size it runs at), so
next to a dark subject against a blown sky the sky takes part of the subject's treatment: a band
20-40 px wide (at 1024 px) that is toned down less than the sky further out (julochka's kitten),
or more (Justin's hair). Where the photo is blown there is nothing in it to justify a change of
gain from one pixel to the next, so ``fill_blown_halos`` gives the blown pixels within
``HALO_REACH`` of anything that is not blown the network's luminance gain of the blown area
further out, filled in by normalised convolution (a Gaussian-weighted mean over the far pixels
only, Knutsson & Westin 1993), as inpainting fills a hole from its surround:

    log g = log(Y_result / Y_photo)                  the network's luminance gain
    far   = blown and further than HALO_REACH from anything not blown
    fill  = blur(log g * far) / blur(far)            (Gaussian, FILL_SIGMA)
    out   = result * exp(w * (fill - log g)),   w = how blown * near * enough far pixels around

The result's colours (its chroma ratios) stay; only its brightness moves. A blown area with no far
part (a highlight on skin, a small window) is left alone, and so is every pixel that is not blown.
What edge-aware smoothing of the gain did instead (a domain-transform filter, guided by the photo or
by the result) also spread the subject's gain out into a weakly separated blown background: a grey
smudge around Justin's hair (the model card has both).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recnet.inference.guided_upsample import box_mean
from recnet.inference.tonal_range import BLOWN, luma, ramp

# the band next to a subject that is refilled, in pixels at the size the network ran at (640 px long
# side in fast mode): the 31x31 mask blur reaches 15 px and the convolutions around it a few more
HALO_REACH = 24
FILL_SIGMA = 24.0  # the Gaussian of the normalised convolution, same pixels: the far sky's gain varies slowly
BLOWN_FROM = 0.90  # the refill fades in from this luma to BLOWN: a near-white pixel in the band follows part way
ENOUGH_FAR = 0.2  # Gaussian weight of far pixels around a pixel above which its fill is trusted fully
_COARSE = 4  # the fill is smooth, so it is computed at a quarter of the size and upsampled


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W), replicated edges, 3 sigma each side."""
    radius = max(1, int(3 * sigma))
    taps = torch.exp(-(torch.arange(-radius, radius + 1, dtype=x.dtype) ** 2) / (2 * sigma**2))
    taps = (taps / taps.sum()).to(x.device)
    channels = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def far_fill(values: torch.Tensor, far: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(h, w) values and (h, w) 0/1 weights -> (the Gaussian-weighted mean of ``values`` over the pixels
    where ``far`` is 1, the Gaussian weight of those pixels), each (h, w); computed at 1/``_COARSE`` size."""
    h, w = values.shape
    stack = torch.stack([values * far, far])[None]  # (1, 2, h, w)
    coarse = F.avg_pool2d(stack, _COARSE, ceil_mode=True) if min(h, w) >= 2 * _COARSE else stack
    scale = h / coarse.shape[-2]
    blurred = F.interpolate(gaussian_blur(coarse, sigma / scale), size=(h, w), mode="bilinear", align_corners=False)[0]
    weight = blurred[1]
    return blurred[0] / weight.clamp_min(1e-6), weight


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """(h, w) 0/1 -> 1 wherever a 1 lies within ``radius`` (a square window): the guided upsampling's
    window mean, above 0."""
    return (box_mean(mask[None], radius)[0] > 0).to(mask.dtype)


def fill_blown_halos(photo: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    """(3, h, w) sRGB photo and the network's correction of it, the same size -> the correction with the
    blown pixels next to a subject given the gain of the blown area further out (the module docstring)."""
    y_photo = luma(photo.float())
    blown = y_photo > BLOWN
    if not blown.any() or blown.all():
        return result  # nothing blown, or nothing else: no subject to make a halo
    near = dilate((~blown).float(), HALO_REACH)  # within reach of a subject
    far = blown.float() * (1 - near)
    if not far.any():
        return result  # blown areas too small to have an inside: highlights, left as the network made them
    log_gain = torch.log(luma(result.float()).clamp_min(1e-4) / y_photo.clamp_min(1e-4))
    fill, support = far_fill(log_gain, far, FILL_SIGMA)
    weight = ramp(y_photo, BLOWN_FROM, BLOWN) * near * ramp(support, 0.0, ENOUGH_FAR)
    return (result * torch.exp(weight * (fill - log_gain))).clamp_(0.0, 1.0).to(result.dtype)
