"""How much of the correction a photo gets by default: all of it when the photo is badly
exposed, little when it already looks right.

Whether a photo needs correcting is ambiguous to the network: a well-exposed dark scene looks
like an under-exposed one, and it brightens both. On the 42 well-exposed test photos fed as
they are, the full correction comes back at about 24 dB against the photo (a global lift of
dark scenes, mostly; the model card has the figure for the shipped weights), far from leaving
them alone. The photo's histogram tells the two apart far
better than the network does, with three signs of an exposure error:

- under-exposed: no highlights (99th-percentile luma below ``UNDER``),
- washed out: no blacks (1st-percentile luma above ``WASHED``),
- clipped: a share of the pixels blown to white or crushed to black above ``CLIPPED``.

Each sign grows linearly from 0 at the start of its range to 1 at its end; the suggested
strength is the largest, so a photo with any clear exposure error gets the full correction
(all 8 real photos and 56 of the 57 real validation pairs do, the last 0.87), and a photo with full range and
little clipping gets little or none. The person can always move the strength themselves;
``recnet.enhance`` and the command line take ``strength`` (default: this suggestion).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch

from recnet.inference.tonal_range import BLOWN, CRUSHED, luma_quantiles, luma_sample, ramp

UNDER = (0.75, 0.50)  # 99th-percentile luma: from 0.75 (a sign of 0) down to 0.50 (1)
WASHED = (0.10, 0.25)  # 1st-percentile luma: from 0.10 (0) up to 0.25 (1)
CLIPPED = (0.01, 0.06)  # share of pixels with luma above BLOWN or below CRUSHED: from 1 % (0) to 6 % (1)


@dataclass(frozen=True)
class Suggestion:
    strength: float  # 0..1: how much of the correction to apply
    reason: str  # what in the photo decided it, in words for the person


def suggest_strength(rgb: torch.Tensor) -> Suggestion:
    """The strength for a (3, H, W) sRGB photo in [0, 1], from its luma histogram."""
    y = luma_sample(rgb)
    p1, p99 = luma_quantiles(y, (0.01, 0.99))
    blown, crushed = float((y > BLOWN).float().mean()), float((y < CRUSHED).float().mean())
    signs = {
        f"no highlights (99 % of it below {p99:.0%} brightness)": ramp(p99, *UNDER),
        f"no blacks (99 % of it above {p1:.0%} brightness)": ramp(p1, *WASHED),
        f"{blown:.0%} blown to white, {crushed:.0%} crushed to black": ramp(blown + crushed, *CLIPPED),
    }
    reason, strength = max(signs.items(), key=lambda item: item[1])
    if strength == 0.0:
        reason = f"looks well exposed: full tonal range, {blown:.0%} blown to white, {crushed:.0%} crushed to black"
    elif strength < 1.0:
        reason = f"a mild exposure error: {reason}"
    return Suggestion(round(strength, 2), reason)


def parse_strength(text: str) -> float | None:
    """A ``--strength`` value: "auto" (None: the suggestion) or a number from 0 to 1."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number from 0 to 1, not {text!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number from 0 to 1, not {text!r}")
    return value


STRENGTH_HELP = ("how much of the correction: 0 (the photo) to 1 (all of it), or auto (default): "
                 "what the photo's histogram suggests, little or none for a well-exposed photo")
