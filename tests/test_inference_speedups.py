"""The folded CPU inference path (recnet.inference.folded) computes the reference's function.

Every test compares against the plain reference ``RECNet.forward`` (PyTorch ops, the model
training uses) on [0, 1] images, to 1e-4, with weights moved off their initial values so
that the output is not clamped flat, and with blur kernels of the three kinds a checkpoint
can hold: our rank-1 Gaussian (separable path, one blur shared by all blocks), full-rank
kernels as trained official checkpoints have (FFT path, one blur per block), and kernels
with negative taps (blurred masks can go negative: max_c(x * m) becomes m * min_c(x)).
"""

import functools

import pytest
import torch
import torch.nn.functional as F

from kernels.blur import gaussian_kernel
from recnet.inference import folded
from recnet.inference.folded import (
    FoldedRECNet,
    _MaskBlur,
    folded_model,
    run_model,
    set_folded_inference,
    uses_folded_path,
)
from recnet.model import RECNet

TOLERANCE = 1e-4

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_model(blur: str = "rank1", seed: int = 0) -> RECNet:
    torch.manual_seed(seed)
    model = RECNet().eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "blur_kernel" not in name:  # off the initial values, so the output is not clamped flat
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
        for i, block in enumerate(model.blocks):
            k = block.norm.blur_kernel
            if blur == "full_rank":  # every block its own trained-looking kernel
                k.add_(2e-4 * torch.randn(k.shape, generator=gen))
            elif blur == "negative_taps":
                k.add_(3e-3 * torch.randn(k.shape, generator=gen))
            elif blur == "mixed" and i >= 3:  # two blocks share a full-rank kernel, three keep the Gaussian
                k.copy_(gaussian_kernel() + 2e-4 * torch.randn(k.shape, generator=torch.Generator().manual_seed(7)))
    model.requires_grad_(False)
    model.freeze_blur()
    return model


@functools.cache
def shared_model(blur: str) -> tuple[RECNet, FoldedRECNet]:
    """A model and its fast copy, built once per blur kind for the read-only comparisons."""
    model = make_model(blur)
    return model, FoldedRECNet(model)


def reference(model: RECNet, image: torch.Tensor):
    with torch.inference_mode():
        return model(image)


CASES = [
    (blur, shape)
    for blur in ("rank1", "full_rank", "negative_taps", "mixed")
    for shape in [(1, 1, 1), (1, 7, 5), (1, 2, 9), (1, 67, 93), (2, 33, 20)]
    + ([(1, 128, 128)] if blur in ("rank1", "full_rank") else [])  # the 961-tap reference blur is slow
]


@pytest.mark.parametrize("blur, shape", CASES)
def test_fast_forward_equals_reference(blur, shape):
    model, fast = shared_model(blur)
    batch, height, width = shape
    image = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(height * 1000 + width))
    ref_image, ref_mask, *_, ref_unclamped = reference(model, image)
    out = fast(image)
    assert out.image.shape == ref_image.shape and out.mask.shape == ref_mask.shape
    assert (out.image - ref_image).abs().max().item() < TOLERANCE
    assert (out.mask - ref_mask).abs().max().item() < TOLERANCE
    assert (out.unclamped - ref_unclamped).abs().max().item() < TOLERANCE  # what the highlight roll-off reads
    assert torch.equal(out.image, out.unclamped.clamp(0, 1))
    if height * width >= 64:  # the comparison means something only if the output is not clamped flat
        assert ((ref_image > 0) & (ref_image < 1)).float().mean() > 0.3


def test_blur_paths_are_chosen_per_kernel():
    assert shared_model("rank1")[1].separable == [True]  # one blur shared by the five blocks
    assert shared_model("full_rank")[1].separable == [False] * 5
    mixed = shared_model("mixed")[1]
    assert mixed.separable == [True, False] and [b.blur_index for b in mixed.blocks] == [0, 0, 0, 1, 1]
    assert not shared_model("negative_taps")[1].blurs[0].nonnegative


@pytest.mark.parametrize("kind", ["rank1", "full_rank"])
@pytest.mark.parametrize("size", [(1, 1), (3, 40), (31, 31), (45, 17)])
def test_mask_blur_equals_direct_convolution(kind, size):
    kernel = gaussian_kernel()
    if kind == "full_rank":
        kernel = kernel + 1e-3 * torch.randn(kernel.shape, generator=torch.Generator().manual_seed(1))
    blur = _MaskBlur(kernel)
    assert (blur.factors is not None) == (kind == "rank1")
    mask = torch.rand(2, *size, generator=torch.Generator().manual_seed(2))
    expected = F.conv2d(mask[:, None].double(), kernel.double(), padding=15)[:, 0]
    out = blur(mask, torch.empty_like(mask))
    assert (out.double() - expected).abs().max() < 1e-6
    ones = F.conv2d(torch.ones(1, 1, *size, dtype=torch.float64), kernel.double(), padding=15)[0, 0]
    assert (blur.ones(*size).double() - ones).abs().max() < 1e-6


def test_run_model_dispatch_and_cache():
    model = make_model()
    image = torch.rand(1, 3, 12, 10)
    assert uses_folded_path(model, image)
    fast = folded_model(model)
    assert folded_model(model) is fast  # built once per model
    ref_image = reference(model, image).image
    assert (run_model(model, image).image - ref_image).abs().max() < TOLERANCE

    with torch.no_grad():  # new weights: the folded copy is rebuilt, and still matches
        model.stem.bias.add_(0.1)
    assert folded_model(model) is not fast
    ref_image = reference(model, image).image
    assert (run_model(model, image).image - ref_image).abs().max() < TOLERANCE

    set_folded_inference(False)
    try:
        assert not uses_folded_path(model, image)
    finally:
        set_folded_inference(None)
    assert not uses_folded_path(model, image.double())
    trainable = make_model().requires_grad_(True)
    assert not uses_folded_path(trainable, image)  # training keeps the reference (autograd)
    with torch.no_grad():
        assert uses_folded_path(trainable, image)


def test_one_env_switch_decides_the_folded_path(monkeypatch):
    model, image = make_model(), torch.rand(1, 3, 4, 4)
    for value, expected in (("torch", False), ("triton", False), ("auto", True)):
        monkeypatch.setenv("RECNET_BACKEND", value)
        assert uses_folded_path(model, image) is expected
    monkeypatch.delenv("RECNET_BACKEND")
    assert uses_folded_path(model, image)  # auto by default
    for retired in ("RECNET_FAST_INFERENCE", "RECNET_KERNELS"):  # refused, never silently ignored
        monkeypatch.setenv(retired, "0")
        with pytest.raises(ValueError, match=f"{retired} was replaced by RECNET_BACKEND"):
            uses_folded_path(model, image)
        monkeypatch.delenv(retired)


def test_without_onednn_post_ops(monkeypatch):
    """The plain F.conv2d / F.linear fallback (builds without oneDNN's fused ops) gives the same function."""
    monkeypatch.setattr(folded, "_FUSED", False)
    model = shared_model("negative_taps")[0]
    image = torch.rand(1, 3, 19, 23)
    ref_image, ref_mask = reference(model, image)[:2]
    out = FoldedRECNet(model)(image)
    assert (out.image - ref_image).abs().max() < TOLERANCE and (out.mask - ref_mask).abs().max() < TOLERANCE


def test_flat_image_is_stable():
    """Instance norm of a nearly constant image divides by ~sqrt(eps): the folded norm must not amplify rounding."""
    model = shared_model("rank1")[0]
    image = torch.full((1, 3, 24, 24), 0.5) + 1e-4 * torch.rand(1, 3, 24, 24)
    ref_image = reference(model, image).image
    assert (FoldedRECNet(model)(image).image - ref_image).abs().max() < TOLERANCE


def test_backend_name_says_what_runs_the_network(monkeypatch):
    from recnet.inference.folded import backend_name

    model = RECNet().eval()
    assert backend_name(model) == "PyTorch (folded CPU path)"  # the CPU default, as run_model takes it
    monkeypatch.setenv("RECNET_BACKEND", "torch")
    assert backend_name(model) == "PyTorch"  # the reference, as kernels.dispatch picks it
