"""``python -m recnet average``: the mean of several weight files, with their record."""

from __future__ import annotations

import pytest
import torch

from recnet.__main__ import main
from recnet.checkpoints import read_weights, save_weights
from recnet.model import RECNet
from recnet.training.average import average_states


def _snapshot(path, seed: int, iteration: int) -> dict:
    torch.manual_seed(seed)
    model = RECNet()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))  # different in every parameter, blur included
    save_weights(model, path, {"iterations": iteration, "pixel_iterations": iteration * 1000, "seed": seed})
    return read_weights(path)[0]


def test_the_command_writes_the_mean_of_the_snapshots_and_names_them(tmp_path):
    states = [_snapshot(tmp_path / f"iter-{i}.pt", seed=i, iteration=i) for i in (500, 1000, 1500)]
    out = tmp_path / "averaged.pt"
    assert main(["average", *(str(tmp_path / f"iter-{i}.pt") for i in (500, 1000, 1500)), "-o", str(out)]) == 0
    averaged, metadata = read_weights(out)
    for key, value in averaged.items():
        expected = (states[0][key].double() + states[1][key].double() + states[2][key].double()) / 3
        torch.testing.assert_close(value, expected.float(), rtol=0, atol=1e-6)
    assert [s["iterations"] for s in metadata["averaged"]] == [500, 1000, 1500]
    assert metadata["iterations"] == 1500 and metadata["pixel_iterations"] == 1_500_000


def test_the_mean_of_one_state_is_that_state_exactly(tmp_path):
    state = _snapshot(tmp_path / "a.pt", seed=3, iteration=10)
    for key, value in average_states([state, state]).items():
        assert torch.equal(value, state[key])


def test_states_of_different_models_are_refused():
    state = RECNet().state_dict()
    other = dict(state)
    other.pop(next(iter(other)))
    with pytest.raises(ValueError, match="different keys"):
        average_states([state, other])
    with pytest.raises(ValueError, match="nothing"):
        average_states([])


def test_one_file_is_not_an_average(tmp_path):
    _snapshot(tmp_path / "a.pt", seed=1, iteration=1)
    with pytest.raises(SystemExit, match="at least two"):
        main(["average", str(tmp_path / "a.pt"), "-o", str(tmp_path / "b.pt")])
