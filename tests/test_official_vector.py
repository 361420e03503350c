"""The official implementation's own numbers: an official checkpoint loads and computes the same function.

``tests/data/official_vector.pt`` (from ``../shared/reference``, its README): random weights that
exercise every part of the network (non-rank-1, asymmetric blur kernels, one with negative taps;
masks from 0.02 to 1; outputs at the clamp), in the official state-dict names, with inputs and the
outputs and masks the official ``InteractNet`` computed for them. Unlike a round trip through our
own name map, this fails on a wrong mapping, a flipped or transposed blur, a swapped alpha, a
missing ``+ 1e-5``.
"""

from pathlib import Path

import pytest
import torch

import recnet
from kernels import dispatch
from recnet.inference.folded import folded_model

VECTOR = Path(__file__).parent / "data" / "official_vector.pt"
REFERENCE_ATOL = 3e-6  # the vector's README: catches a missing +1e-5 before the clamp
FAST_ATOL = 1e-4  # what tests/test_inference_speedups.py claims for the folded CPU path
TRITON_ATOL = 2e-5  # what tests/kernels/test_kernel_model.py claims for the Triton path


@pytest.fixture(scope="module")
def vector():
    return torch.load(VECTOR, weights_only=True)


@pytest.fixture(scope="module")
def official_model(vector, tmp_path_factory):
    path = tmp_path_factory.mktemp("official") / "official.pth"
    torch.save({"params": {f"module.{k}": v for k, v in vector["state_dict"].items()}}, path)  # as trained ones come
    return recnet.load_model(path, device="cpu")


def test_the_vector_is_the_official_one(vector):
    assert vector["official_commit"].startswith("f16cb515") and len(vector["state_dict"]) == 229


@pytest.mark.parametrize("i", [0, 1])
def test_reference_model_reproduces_the_official_outputs_and_masks(vector, official_model, i, one_torch_thread):
    with torch.inference_mode(), dispatch_backend("torch"):
        out = official_model(vector["inputs"][i])
    torch.testing.assert_close(out.image, vector["outputs"][i], atol=REFERENCE_ATOL, rtol=0)
    torch.testing.assert_close(out.mask, vector["masks"][i], atol=REFERENCE_ATOL, rtol=0)


@pytest.mark.parametrize("i", [0, 1])
def test_folded_cpu_path_reproduces_the_official_outputs(vector, official_model, i, one_torch_thread):
    with torch.inference_mode():
        out = folded_model(official_model)(vector["inputs"][i])
    torch.testing.assert_close(out.image, vector["outputs"][i], atol=FAST_ATOL, rtol=0)
    torch.testing.assert_close(out.mask, vector["masks"][i], atol=FAST_ATOL, rtol=0)


@pytest.mark.skipif(not dispatch.TRITON_AVAILABLE, reason="triton not installed")
def test_triton_path_reproduces_the_official_outputs(vector, official_model, one_torch_thread):
    if not torch.cuda.is_available() and not dispatch.interpreting():
        pytest.skip("needs CUDA or TRITON_INTERPRET=1")
    x = vector["inputs"][0]  # the small one: the interpreter is slow
    with torch.inference_mode(), dispatch_backend("triton"):
        out = official_model(x)
    torch.testing.assert_close(out.image, vector["outputs"][0], atol=TRITON_ATOL, rtol=0)
    torch.testing.assert_close(out.mask, vector["masks"][0], atol=TRITON_ATOL, rtol=0)


class dispatch_backend:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        dispatch.set_backend(self.name)

    def __exit__(self, *exc):
        dispatch.set_backend(None)
