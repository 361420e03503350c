"""Average the weights of several snapshots of one run (stochastic weight averaging, Izmailov et al. 2018).

Snapshots taken at a constant learning rate late in a run scatter around a minimum; their mean
usually sits nearer its centre than any one of them, and it smooths the snapshot-to-snapshot noise
that otherwise decides which iteration ships. RECNet has no running statistics (its instance norms
keep none), so the mean of the parameters is the whole model: no pass over data is needed.

    python -m recnet average runs/mixed-real/iter-10500.pt runs/mixed-real/iter-11000.pt ... -o averaged.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from recnet.checkpoints import read_weights, save_weights
from recnet.model import RECNet


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of state dicts with the same keys and shapes (in float64, cast back)."""
    if not states:
        raise ValueError("nothing to average")
    keys = states[0].keys()
    if any(s.keys() != keys for s in states):
        raise ValueError("the state dicts have different keys")
    return {k: torch.stack([s[k].double() for s in states]).mean(0).to(states[0][k].dtype) for k in keys}


def average_weights(paths: list[str | Path]) -> tuple[RECNet, dict]:
    """(model holding the mean of the weight files, metadata naming each source)."""
    read = [read_weights(p) for p in paths]
    model = RECNet()
    model.load_state_dict(average_states([state for state, _ in read]), strict=True)
    sources = [{"file": Path(p).name, "iterations": meta.get("iterations"), "pixel_iterations": meta.get("pixel_iterations")}
               for p, (_, meta) in zip(paths, read)]
    metadata = dict(read[-1][1])  # the last snapshot's run record (data, init, settings)
    metadata.update(averaged=sources, iterations=max((s["iterations"] or 0) for s in sources),
                    pixel_iterations=max((s["pixel_iterations"] or 0) for s in sources))
    return model, metadata


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("weights", nargs="+", help="weight files (snapshots of one run, e.g. runs/NAME/iter-*.pt)")
    parser.add_argument("-o", "--output", required=True, help="the averaged weight file to write")


def run(args: argparse.Namespace) -> int:
    if len(args.weights) < 2:
        raise SystemExit("average: give at least two weight files")
    model, metadata = average_weights(args.weights)
    save_weights(model, args.output, metadata)
    print(f"wrote {args.output}: the mean of {len(args.weights)} snapshots "
          f"(iterations {', '.join(str(s['iterations']) for s in metadata['averaged'])})")
    return 0
