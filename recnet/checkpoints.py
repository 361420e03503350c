"""Load and save RECNet weights: our own files and official RECNet checkpoints.

Official checkpoints come as a bare state dict or nested under a key (``params``,
``state_dict``, ...), often with a ``module.`` prefix from DataParallel; their names are the
official ``InteractNet`` names, mapped to ours by ``recnet.model.official_name``.
Loading is safe (``weights_only=True``) and strict: any missing, unexpected or mis-shaped
key is an error that names them, never a silent partial load.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from recnet.model import RECNet, official_name

FORMAT = "recnet-weights"
FORMAT_VERSION = 1
ARCHITECTURE = {"name": "RECNet", "channels": 8, "blocks": 5, "heads": 2, "parameters": 38975}
_NESTING_KEYS = ("state_dict", "params_ema", "params", "model", "net", "network", "weights")


class CheckpointError(ValueError):
    """A weight file that cannot be loaded into RECNet; the message says why."""


def _unwrap(obj, path) -> tuple[dict, dict]:
    """(state dict, metadata) from whatever ``torch.load`` returned."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    metadata = obj.get("metadata", {}) if obj.get("format") == FORMAT else {}
    if obj.get("format") == FORMAT and obj.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {obj['format_version']} is newer than this code reads")
    for key in _NESTING_KEYS:
        if key in obj and isinstance(obj[key], dict) and not torch.is_tensor(obj[key]):
            return obj[key], metadata
    return obj, metadata


def _strip_prefix(state: dict) -> dict:
    for prefix in ("module.", "_orig_mod."):  # DataParallel, torch.compile
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def to_our_names(state: dict, model: RECNet) -> dict:
    """Rename an official (or our own) state dict to our keys; unknown keys pass through."""
    ours = model.state_dict().keys()
    from_official = {official_name(k): k for k in ours}
    if any(k in from_official and k not in ours for k in state):
        return {from_official.get(k, k): v for k, v in state.items()}
    return dict(state)


def check_state(state: dict, model: RECNet, source) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if not torch.is_tensor(state[k]) or state[k].shape != expected[k].shape
    )
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if keys:
            shown = ", ".join(keys[:8]) + (f" (+{len(keys) - 8} more)" if len(keys) > 8 else "")
            problems.append(f"{len(keys)} {label}: {shown}")
    if problems:
        raise CheckpointError(f"{source}: not a RECNet (nc=8) checkpoint; " + "; ".join(problems))


def read_weights(path: str | os.PathLike) -> tuple[dict, dict]:
    """(state dict in our names, metadata) from a file; raises CheckpointError on any mismatch."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        # TorchVersion: files written by train.py before its metadata stored str(torch.__version__)
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused, truncated file, not a torch file
        raise CheckpointError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from exc
    state, metadata = _unwrap(obj, path)
    model = RECNet()
    state = to_our_names(_strip_prefix(state), model)
    check_state(state, model, path)
    return state, metadata


def load_weights(model: RECNet, path: str | os.PathLike) -> dict:
    """Load ``path`` into ``model`` (strictly); returns the file's metadata."""
    state, metadata = read_weights(path)
    model.load_state_dict(state, strict=True)
    return metadata


def save_weights(model: RECNet, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write our weight format: the state dict plus format version, architecture and metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": dict(ARCHITECTURE),
        "metadata": dict(metadata or {}),
        "state_dict": state,
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never leave a half-written weights file behind


def save_official(model: RECNet, path: str | os.PathLike) -> None:
    """Write a bare state dict under the official InteractNet names (for the official code)."""
    torch.save({official_name(k): v.detach().cpu() for k, v in model.state_dict().items()}, path)
