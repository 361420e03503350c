"""recnet.training.train_step: the shared-blur training step computes the reference step's maths (recnet.training.train's loop)."""

import copy

import pytest
import torch

from recnet.model import RECNet
from recnet.training.losses import RecnetLoss
from recnet.training.train_step import make_train_step, reference_step, replicate_pad, shared_blur, shared_blur_forward


def _setup(seed: int = 0):
    torch.manual_seed(seed)
    model = RECNet()
    model.freeze_blur()
    model.to(memory_format=torch.channels_last).train()
    return model


def _optimizer(model):
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-4, betas=(0.9, 0.99))


def _batch(b=2, size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    inp = torch.rand(b, 3, size, size, generator=g).contiguous(memory_format=torch.channels_last)
    target = torch.rand(b, 3, size, size, generator=g)
    return inp, target


def _compare_steps(compiled: bool, size: int, steps: int = 2):
    reference_model = _setup()
    fast_model = copy.deepcopy(reference_model)
    fast_model.freeze_blur()  # deepcopy keeps the factors; recompute anyway, as train.py would
    criterion = RecnetLoss(ecr=0.1, tonal=0.5)  # every term the run may use
    ref_opt, fast_opt = _optimizer(reference_model), _optimizer(fast_model)
    ref_step = reference_step(reference_model, criterion, ref_opt)
    fast_step = make_train_step(fast_model, criterion, fast_opt, compiled=compiled)
    for i in range(steps):
        inp, target = _batch(size=size, seed=i + 1)
        ref_loss, ref_parts = ref_step(inp, target)
        fast_loss, fast_parts = fast_step(inp, target)
        assert fast_parts.keys() == ref_parts.keys()
        for k in ref_parts:
            assert fast_parts[k] == pytest.approx(ref_parts[k], rel=1e-4, abs=1e-6), k
        torch.testing.assert_close(fast_loss, ref_loss, rtol=1e-4, atol=1e-6)
        named_ref = dict(reference_model.named_parameters())
        for name, p in fast_model.named_parameters():
            r = named_ref[name]
            if r.grad is None:
                assert p.grad is None, name
                continue
            # gradients: equal up to float32 rounding, relative to each gradient's own size
            scale = r.grad.abs().max().item() + 1e-12
            err = (p.grad - r.grad).abs().max().item()
            assert err <= 2e-3 * scale + 1e-7, f"step {i} {name}: max |diff| {err:.3g} vs max |grad| {scale:.3g}"
        for (name, p), r in zip(fast_model.named_parameters(), reference_model.parameters()):
            torch.testing.assert_close(p, r, rtol=1e-4, atol=1e-5, msg=name)


def test_replicate_pad_matches_f_pad():
    x = torch.randn(2, 3, 5, 7)
    torch.testing.assert_close(replicate_pad(x, 1), torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"))
    torch.testing.assert_close(replicate_pad(x, 2), torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate"))


@torch.no_grad()
def test_fast_forward_is_the_model():
    model = _setup()
    inp, _ = _batch(size=24)
    assert shared_blur(model)
    expected = model(inp)
    for explicit_pad in (False, True):
        got = shared_blur_forward(model, inp, share_blur=True, explicit_pad=explicit_pad)
        torch.testing.assert_close(got.image, expected.image, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got.mask, expected.mask, rtol=1e-5, atol=1e-6)
        for a, b in zip(got.block_outputs, expected.block_outputs):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_different_blurs_are_not_shared():
    model = _setup()
    model.blocks[2].norm.blur_kernel.mul_(0.5)
    model.freeze_blur()
    assert not shared_blur(model)
    inp, _ = _batch(size=24)
    got = shared_blur_forward(model, inp, share_blur=shared_blur(model))
    torch.testing.assert_close(got.image, model(inp).image, rtol=1e-5, atol=1e-6)


def test_eager_fast_step_matches_reference_gradients():
    _compare_steps(compiled=False, size=32)


@pytest.mark.slow
def test_compiled_step_matches_reference_gradients():
    """torch.compile of forward + loss: ~160 s on the busy 2-core machine (compile dominated); run with --full."""
    _compare_steps(compiled=True, size=32, steps=1)
