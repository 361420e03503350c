"""A stand-in for RECNet that drives the pipeline with a known answer: ``offset + scale * x``."""

from __future__ import annotations

import torch

from recnet.model import RECNetOutput


class AffineNet(torch.nn.Module):
    """Answers ``offset + scale * x``: its image clamped to [0, 1] as RECNet's is, ``unclamped`` as
    computed (past white where it overshoots), and a flat exposure mask of 0.5."""

    weights_path = None  # as RECNet declares it: built in code, not loaded

    def __init__(self, offset: float = 0.0, scale: float = 1.0):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1), requires_grad=False)  # gives the pipeline a device
        self.offset, self.scale = offset, scale

    def forward(self, x):
        y = self.offset + self.scale * x
        return RECNetOutput(y.clamp(0, 1), torch.full_like(x[:, :1], 0.5), (), x, y)
