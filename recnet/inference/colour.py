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

A blown sky has no colour to keep: blue and green hit white before red, so a pale blue sky comes out
cyan (julochka's is 235, 255, 254), and toned down that tint becomes a cast (it came back teal). Where
the photo's green and blue are at white, its red is below them but near, and the network tones the pixel
down, the result goes to neutral grey of the same luminance, fully once it is toned down by
``NEUTRAL_BY``: what highlight reconstruction's "clip" mode does in raw converters. Only the cyan case:
a blown warm highlight (skin at 255, 250, 230) keeps its hue, which a blind look preferred to grey
(Justin's and Floris's faces), and so does a clipped saturated colour (a yellow at 255, 255, 40).

On the synthetic test pairs it scores the same as the network's own colours (within 0.05 dB,
see the model card); on real photos it removes the casts. ``colour="network"`` in
``recnet.inference.pipeline`` skips it.
"""

from __future__ import annotations

import torch

from recnet.inference.tonal_range import ramp

COLOURS = ("photo", "network")  # whose colours the result keeps
LUMA = (0.2126, 0.7152, 0.0722)  # Rec. 709 / sRGB primaries, linear light
FLOOR = 4e-3  # linear light, about sRGB code 11 of 255; the choice barely moves validation scores
AT_WHITE = (0.96, 0.99)  # sRGB, the lower of the photo's green and blue: from clipping to clipped
NEAR_WHITE = (0.75, 0.90)  # sRGB, the photo's red: only a near-white pixel loses its hue
CYAN_BY = 0.02  # sRGB, red this far below the lower of green and blue (or more): the clipping's cyan
NEUTRAL_BY = 0.2  # toned down by this share of its luminance (or more), a blown near-white pixel is grey


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


def blown_sky(photo: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """(3, H, W) sRGB photo and (1, H, W) luminance gain -> (1, H, W) in [0, 1]: how much of the
    pixel's chroma to drop (1: all of it) because it is a blown, cyan-tinted near-white that is toned down."""
    red, green_blue = photo[0:1].float(), photo[1:3].float().amin(dim=0, keepdim=True)
    blown = ramp(green_blue, *AT_WHITE) * ramp(red, *NEAR_WHITE) * ramp(green_blue - red, 0.0, CYAN_BY)
    return blown * ramp(1 - gain, 0.0, NEUTRAL_BY)


def keep_photo_colours(photo: torch.Tensor, corrected: torch.Tensor, floor: float = FLOOR) -> torch.Tensor:
    """(3, H, W) sRGB in [0, 1], the photo and the network's output -> (3, H, W) sRGB in [0, 1]."""
    photo_lin = srgb_to_linear(photo.float())
    photo_y = luminance(photo_lin)
    target_y = luminance(srgb_to_linear(corrected.float()))
    darken = target_y <= photo_y
    gain = torch.where(darken, target_y / photo_y.clamp_min(1e-12), (target_y + floor) / (photo_y + floor))
    out = photo_lin * gain + (target_y - photo_y * gain)
    out = target_y + (out - target_y) * (1 - blown_sky(photo, gain))  # a blown sky toned down: grey
    peak = out.amax(dim=0, keepdim=True)
    # out of gamut: pull towards grey of the same luminance until the largest channel is 1
    scale = torch.where(peak > 1, (1 - target_y) / (peak - target_y).clamp_min(1e-6), torch.ones_like(peak))
    out = target_y + (out - target_y) * scale
    return linear_to_srgb(out)
