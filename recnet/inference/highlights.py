"""Roll off the highlights the network pushes past white, instead of clipping them.

The network ends with ``clamp(y, 0, 1)``. Where it brightens something that was already
bright (a lit curtain in a dark room it lifts as a whole, the shoulder of a lifted portrait), ``y``
goes past 1 and the clamp flattens it: on Rodrigo_Valla's room 9 % of the working image
went past white (up to 1.6), and the curtains' embroidery came back as flat white although the
unclamped output still held it (its spread there, 0.12, is the photo's, 0.11). A camera or a raw
converter does not clip there; it rolls the highlights off. ``roll_off_highlights`` does the same
with a shoulder on the unclamped output:

    x <= KNEE:            x                        (untouched)
    KNEE < x:             KNEE + (1 - KNEE) * r t / (1 + (r - 1) t),  t = (x - KNEE) / (white - KNEE)

with ``white`` the output's own ``WHITE_QUANTILE`` (per-pixel brightest channel) and
``r = (white - KNEE) / (1 - KNEE)``: the curve meets the identity at the knee with slope 1,
is concave and increasing, and reaches 1 at ``white``, so what lies between the knee and white
keeps its order and detail, compressed into [KNEE, 1]. An output that stays within [0, 1]
is only clamped, as before (4 of the 8 real photos and 33 of the 57 real validation pairs).

Measured with the weights shipped then (the mean of 10,500-12,000; product defaults,
``evaluate --all``; the model card has the files): real validation 18.15 -> 18.21 dB, SSIM
0.7632 -> 0.7636; synthetic test 17.29 -> 17.27; do no harm 34.90 -> 34.88 dB (worst photo
16.67 -> 16.81); a knee of 0.6 scored lower on all three (18.20, 17.26, 34.74).
"""

from __future__ import annotations

import torch

from recnet.inference.tonal_range import strided_sample

KNEE = 0.8  # values up to this are the network's own; above it the shoulder starts
WHITE_QUANTILE = 0.999  # the output's white: this quantile of each pixel's brightest channel (outliers clip)


def roll_off_highlights(unclamped: torch.Tensor, knee: float = KNEE) -> torch.Tensor:
    """(3, H, W) the network's output before its clamp -> (3, H, W) in [0, 1], values past white
    rolled off into [knee, 1] rather than clipped."""
    white = float(torch.quantile(strided_sample(unclamped.amax(dim=0).float()), WHITE_QUANTILE))
    if white <= 1.0:
        return unclamped.clamp(0.0, 1.0)  # nothing past white worth keeping: the network's clamp
    ratio = (white - knee) / (1.0 - knee)  # the shoulder's slope at its start, relative to the chord
    t = ((unclamped - knee) / (white - knee)).clamp_min(0.0)
    rolled = knee + (1.0 - knee) * ratio * t / (1.0 + (ratio - 1.0) * t)
    return torch.where(unclamped > knee, rolled, unclamped).clamp_(0.0, 1.0)
