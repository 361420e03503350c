"""The weights shipped with the project, and ``load_model`` that returns a ready model."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from recnet.checkpoints import load_weights
from recnet.model import RECNet

DEFAULT_WEIGHTS = Path(__file__).with_name("recnet_mixed_exposure.pt")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available; use --device cpu or auto")
    return device


def load_model(weights: str | os.PathLike | None = None, device: str | torch.device = "auto") -> RECNet:
    """A RECNet in eval mode on ``device`` with ``weights`` (None: the weights shipped in the repo).

    The file's metadata is kept on ``model.weights_metadata``. The blur kernels are fixed and
    run separably where they are rank-1 (they are for our weights; official ones may not be).
    """
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    if weights is None and not path.is_file():
        raise FileNotFoundError(
            f"no shipped weights at {path}: train them with `python -m recnet train` or pass weights=PATH"
        )
    model = RECNet()
    model.weights_metadata = load_weights(model, path)
    model.weights_path = str(path)
    model.eval().requires_grad_(False)
    model.to(resolve_device(device))
    model.freeze_blur()
    return model
