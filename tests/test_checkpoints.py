"""Weight files: our format, official checkpoints in their usual wrappings, strict errors."""

import pickle

import pytest
import torch

import recnet
import recnet.weights
from recnet.checkpoints import CheckpointError, load_weights, read_weights, save_official, save_weights
from recnet.model import RECNet, official_name


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = RECNet()
    with torch.no_grad():  # make every tensor distinct from a fresh init
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return m


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k].cpu(), sb[k].cpu()), k


def test_our_format_round_trip_with_metadata(model, tmp_path):
    path = tmp_path / "w.pt"
    save_weights(model, path, {"iterations": 123, "trained_on": "synthetic pairs"})
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "recnet-weights" and payload["format_version"] == 1
    assert payload["architecture"]["parameters"] == 38975
    loaded = recnet.load_model(path, device="cpu")
    assert_same_weights(model, loaded)
    assert loaded.weights_metadata == {"iterations": 123, "trained_on": "synthetic pairs"}
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"module." + k: v for k, v in sd.items()},
        lambda sd: {"params": sd},
        lambda sd: {"state_dict": {"module." + k: v for k, v in sd.items()}, "epoch": 3},
    ],
    ids=["bare", "module-prefix", "nested-params", "nested-state_dict-module"],
)
def test_official_checkpoints_load(model, tmp_path, wrap):
    official = {official_name(k): v for k, v in model.state_dict().items()}
    path = tmp_path / "official.pth"
    torch.save(wrap(official), path)
    loaded = RECNet()
    load_weights(loaded, path)
    assert_same_weights(model, loaded)


def test_save_official_writes_official_names(model, tmp_path):
    path = tmp_path / "o.pth"
    save_official(model, path)
    state = torch.load(path, weights_only=True)
    assert "dualprocess.conv1.norm.blur.kernel" in state and "learned_mask.net_convs.6.bias" in state
    loaded = RECNet()
    load_weights(loaded, path)
    assert_same_weights(model, loaded)


def test_mismatched_checkpoint_names_every_problem(model, tmp_path):
    state = {official_name(k): v for k, v in model.state_dict().items()}
    del state["extract.bias"]
    state["extra.weight"] = torch.zeros(1)
    state["dualprocess.cat.weight"] = torch.zeros(8, 16, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        read_weights(path)
    message = str(err.value)
    assert "1 missing: stem.bias" in message
    assert "1 unexpected: extra.weight" in message
    assert "merge.weight (8, 16, 1, 1) != (8, 40, 1, 1)" in message
    fresh = RECNet()
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(CheckpointError):
        load_weights(fresh, path)
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())  # no partial load


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_unsafe_pickles_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with path.open("wb") as f:
        pickle.dump({"state_dict": _Evil()}, f, protocol=2)
    with pytest.raises(CheckpointError, match="cannot read weights"):
        read_weights(path)


def test_not_a_checkpoint_and_missing_file(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="junk.pt"):
        read_weights(junk)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        recnet.load_model(tmp_path / "nope.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="expected a dict"):
        read_weights(tmp_path / "list.pt")


def test_default_weights_missing_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(recnet.weights, "DEFAULT_WEIGHTS", tmp_path / "absent.pt")
    with pytest.raises(FileNotFoundError, match="no shipped weights"):
        recnet.load_model()


def test_shipped_weights_load_and_carry_their_record():
    model = recnet.load_model(device="cpu")
    meta = model.weights_metadata
    assert meta["iterations"] > 0 and meta["pixel_iterations"] > 0 and "brackets" in meta["trained_on"]
    assert model.freeze_blur()  # our training keeps the Gaussian blur: separable at inference


def test_cuda_request_without_cuda_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        recnet.load_model(device="cuda")
