"""Keep the photo's own colours: take only the brightness change from the network.

Trained on synthesised pairs, the network also shifts colours, and on real photos those
shifts are casts (grass turned olive under a toned-down sky, pink skin in a lifted shadow).
``keep_photo_colours`` applies the network's per-pixel change of luminance to the photo's
linear RGB instead, so hue and saturation stay the photo's:

    gain = Y_net / Y_photo                            where the network darkens
    gain = (Y_net + floor) / (Y_photo + floor)        where it brightens
    out_linear = photo_linear * gain + (Y_net - Y_photo * gain)

``Y`` is Rec. 709 relative luminance in linear light; the last term is grey, so the result
has exactly the network's luminance, and a pixel the network leaves alone comes back as it
was. ``floor`` keeps a lifted near-black pixel, whose colour is mostly noise, from having its
chroma amplified: the extra brightness it gets is neutral. A pixel pushed out of gamut is
desaturated towards its luminance (hue kept) rather than clipped per channel.

On the synthetic test pairs it scores the same as the network's own colours (within 0.05 dB,
see the model card); on real photos it removes the casts. ``colour="network"`` in
``recnet.inference.pipeline`` skips it.
"""

from __future__ import annotations

import torch

COLOURS = ("photo", "network")  # whose colours the result keeps
LUMA = (0.2126, 0.7152, 0.0722)  # Rec. 709 / sRGB primaries, linear light
FLOOR = 4e-3  # linear light, about sRGB code 11 of 255; the choice barely moves validation scores


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0, 1)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0, 1)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)


def luminance(linear: torch.Tensor) -> torch.Tensor:
    """(3, H, W) linear RGB -> (1, H, W)."""
    r, g, b = LUMA
    return r * linear[0:1] + g * linear[1:2] + b * linear[2:3]


def keep_photo_colours(photo: torch.Tensor, corrected: torch.Tensor, floor: float = FLOOR) -> torch.Tensor:
    """(3, H, W) sRGB in [0, 1], the photo and the network's output -> (3, H, W) sRGB in [0, 1]."""
    photo_lin = srgb_to_linear(photo.float())
    photo_y = luminance(photo_lin)
    target_y = luminance(srgb_to_linear(corrected.float()))
    darken = target_y <= photo_y
    gain = torch.where(darken, target_y / photo_y.clamp_min(1e-12), (target_y + floor) / (photo_y + floor))
    out = photo_lin * gain + (target_y - photo_y * gain)
    peak = out.amax(dim=0, keepdim=True)
    # out of gamut: pull towards grey of the same luminance until the largest channel is 1
    scale = torch.where(peak > 1, (1 - target_y) / (peak - target_y).clamp_min(1e-6), torch.ones_like(peak))
    out = target_y + (out - target_y) * scale
    return linear_to_srgb(out)
