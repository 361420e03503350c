"""The fused region-aware normalization against the float64 reference, under the interpreter on CPU."""

import pytest
import torch
from kernel_checks import as_float64, assert_matches, poisoned_outputs

from kernels import dispatch, region_norm
from kernels.region_norm.kernel import region_norm_fwd
from kernels.region_norm.reference import region_norm_reference

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _inputs(b, c, h, w, dtype=torch.float32, offset=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, h, w, generator=g) + offset
    under = torch.rand(b, 1, h, w, generator=g)
    over = 1 - under + 0.2 * torch.randn(b, 1, h, w, generator=g)  # some negative mask values: max -> m * min
    attention = 0.5 * torch.randn(3, 1, 3, 3, 3, generator=g)
    gamma, beta = 1 + 0.5 * torch.randn(c, generator=g), 0.5 * torch.randn(c, generator=g)
    return x.to(dtype), under.to(dtype), over.to(dtype), attention, gamma, beta


def _check(args, dtype, **blocks):
    with poisoned_outputs():
        got = region_norm_fwd(*args, **blocks)
    expected = region_norm_reference(*as_float64(*args))
    n = args[0].shape[-2] * args[0].shape[-1]
    for i, (g, e) in enumerate(zip(got, expected)):
        assert_matches(g, e, dtype, n, f"branch {i}")


CASES = [
    # (B, C, H, W), blocks, x offset
    ((2, 8, 67, 93), {}, 0.0),
    ((1, 8, 13, 40), dict(block_h=8, block_w=16, block_t=4), 30.0),  # 6 tiles merged 4 at a time; large mean
    ((1, 3, 5, 7), {}, 0.0),  # channels not a power of two
    ((2, 8, 2, 1), {}, 0.0),  # width 1
    ((1, 8, 1, 33), dict(block_h=1, block_w=16), 0.0),  # one row, tiles narrower than the image
]


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")  # interpreter sigmoid of a very negative logit
@pytest.mark.parametrize("shape, blocks, offset", CASES, ids=[str(c[0]) for c in CASES])
def test_region_norm_matches_reference(shape, blocks, offset):
    _check(_inputs(*shape, offset=offset), torch.float32, **blocks)


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_region_norm_half_precision(dtype):
    _check(_inputs(1, 8, 20, 30, DTYPES[dtype], seed=1), DTYPES[dtype])


def test_region_norm_single_pixel():
    """1x1: zero variance, so every output is the InstanceNorm bias (the reference writes this case out)."""
    args = _inputs(2, 8, 1, 1)
    _check(args, torch.float32)
    with poisoned_outputs():
        got = region_norm_fwd(*args)
    beta = args[5].reshape(1, 8, 1, 1).expand(2, 8, 1, 1).double()
    for g in got:
        assert_matches(g, beta, torch.float32, 1, "1x1")


def test_region_norm_strided_inputs_and_broadcast_masks():
    """x a channel slice of a wider tensor, masks shared by the batch ((1, 1, H, W) broadcast)."""
    x_wide, under, over, attention, gamma, beta = _inputs(2, 16, 11, 19, seed=2)
    x, gamma, beta = x_wide[:, 4:12], gamma[:8], beta[:8]
    under1, over1 = under[:1], over[:1].transpose(-1, -2).contiguous().transpose(-1, -2)  # non-standard strides
    with poisoned_outputs():
        got = region_norm_fwd(x, under1, over1, attention, gamma, beta, block_h=8, block_w=16)
    expected = region_norm_reference(*as_float64(x, under1.expand(2, 1, 11, 19), over1.expand(2, 1, 11, 19), attention, gamma, beta))
    for i, (g, e) in enumerate(zip(got, expected)):
        assert_matches(g, e, torch.float32, 11 * 19, f"branch {i}")


def test_entry_point_dispatches_to_the_kernel(launches):
    calls = launches("kernels.region_norm.kernel", "region_norm_fwd")
    args = _inputs(1, 8, 9, 14, seed=3)
    try:
        dispatch.set_backend("triton")
        got = region_norm(*args)
    finally:
        dispatch.set_backend(None)
    assert calls == ["region_norm_fwd"]  # the kernel ran, not a quiet fallback
    for g, e in zip(got, region_norm_reference(*args)):
        torch.testing.assert_close(g, e, atol=2e-5, rtol=2e-5)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("shape", [(2, 8, 67, 93), (1, 8, 64, 64), (3, 8, 17, 130)])
def test_region_norm_full_sweep(shape, dtype):
    _check(_inputs(*shape, DTYPES[dtype], seed=5), DTYPES[dtype])
    _check(_inputs(*shape, DTYPES[dtype], seed=6), DTYPES[dtype], block_h=8, block_w=32, block_t=4)
