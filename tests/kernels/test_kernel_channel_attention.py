"""Channel attention (folded into project_ch) and the CALayer bias against float64 references, under the interpreter."""

import math

import pytest
import torch
from kernel_checks import as_float64, assert_matches, poisoned_outputs

from kernels import channel_attention, channel_bias, dispatch
from kernels.channel_attention.kernel import channel_attention_fwd, channel_bias_fwd
from kernels.channel_attention.reference import channel_attention_reference, channel_bias_reference

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _attention_inputs(b, c, h, w, heads=2, dtype=torch.float32, logit_scale=None, seed=0):
    """q, k as slices of one (B, 2C, H, W) activation like the model's; relu-like (non-negative) values.

    By default q and k are scaled by 1/sqrt(H*W) so the logits stay O(1); ``logit_scale=1``
    keeps the raw values, whose logits grow with H*W and saturate the softmax as in the model.
    """
    g = torch.Generator().manual_seed(seed)
    n = h * w
    scale = logit_scale if logit_scale is not None else 1 / math.sqrt(n)
    a3 = torch.rand(b, 2 * c, h, w, generator=g) * scale
    a5 = torch.rand(b, 2 * c, h, w, generator=g) * scale
    v3, v5 = torch.randn(b, c, h, w, generator=g), torch.randn(b, c, h, w, generator=g)
    temperature = 0.5 + torch.rand(heads, 1, 1, generator=g)
    weight, bias = torch.randn(c, 2 * c, 1, 1, generator=g) / math.sqrt(2 * c), torch.randn(c, generator=g)
    a3, a5, v3, v5 = (t.to(dtype) for t in (a3, a5, v3, v5))
    return a3[:, :c], a3[:, c:], v3, a5[:, :c], a5[:, c:], v5, temperature, weight, bias


def _bias_inputs(b, c, h, w, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = max(1, c // 4)
    features, x = torch.randn(b, c, h, w, generator=g) + 0.3, torch.randn(b, c, h, w, generator=g)
    return (
        features.to(dtype), x.to(dtype),
        torch.randn(r, c, 1, 1, generator=g), torch.randn(r, generator=g),
        torch.randn(c, r, 1, 1, generator=g), torch.randn(c, generator=g),
    )  # fmt: skip


def _logit_conditioning(args, expected) -> float:
    """Error any fp32 implementation makes from rounding logits of size L: about eps32 * L * |out|.

    q and k are not normalised, so the logits grow with H*W (thousands for a raw 67x93 image)
    and the softmax is only as accurate as eps32 times the largest logit.
    """
    q3, k3, _, q5, k5, _, temperature = as_float64(*args[:7])
    b, c = q3.shape[:2]
    heads = temperature.shape[0]
    largest = 0.0
    for q, k in ((q3, k3), (q5, k5)):
        q, k = q.reshape(b, heads, c // heads, -1), k.reshape(b, heads, c // heads, -1)
        largest = max(largest, float(((q @ k.transpose(-2, -1)) * temperature).abs().max()))
    return 4 * 2.0**-24 * largest * float(expected.abs().max())


def _check_attention(args, dtype, **blocks):
    with poisoned_outputs():
        got = channel_attention_fwd(*args, **blocks)
    n = args[0].shape[-2] * args[0].shape[-1]
    expected = channel_attention_reference(*as_float64(*args))
    assert_matches(got, expected, dtype, n, "channel attention", extra_atol=_logit_conditioning(args, expected))


def _check_bias(args, dtype, **blocks):
    with poisoned_outputs():
        got = channel_bias_fwd(*args, **blocks)
    n = args[0].shape[-2] * args[0].shape[-1]
    assert_matches(got, channel_bias_reference(*as_float64(*args)), dtype, n, "channel bias")


CASES = [
    # (B, C, H, W), heads, blocks
    ((2, 8, 67, 93), 2, {}),
    ((1, 8, 1, 1), 2, {}),
    ((1, 8, 13, 40), 2, dict(block_n=64, n_split=3)),  # each program walks several chunks; 3 partials
    ((1, 4, 5, 7), 2, {}),  # 2 channels per head
    ((2, 8, 6, 11), 1, dict(block_n=16)),  # one head of 8 channels
    ((1, 12, 3, 5), 2, {}),  # 6 channels per head: not a power of two
]


@pytest.mark.parametrize("shape, heads, blocks", CASES, ids=[f"{c[0]}-h{c[1]}" for c in CASES])
def test_channel_attention_matches_reference(shape, heads, blocks):
    _check_attention(_attention_inputs(*shape, heads=heads), torch.float32, **blocks)


def test_channel_attention_saturated_softmax():
    """Raw relu-scale q, k: logits in the thousands; the max-subtracted softmax stays finite and exact."""
    args = _attention_inputs(1, 8, 67, 93, logit_scale=1.0, seed=1)
    _check_attention(args, torch.float32)


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_channel_attention_half_precision(dtype):
    _check_attention(_attention_inputs(1, 8, 20, 30, dtype=DTYPES[dtype], seed=2), DTYPES[dtype])


@pytest.mark.parametrize(
    "shape, blocks", [((2, 8, 67, 93), {}), ((1, 8, 1, 1), {}), ((1, 8, 13, 40), dict(block_n=64, n_split=3)), ((1, 12, 3, 5), {})]
)
def test_channel_bias_matches_reference(shape, blocks):
    _check_bias(_bias_inputs(*shape), torch.float32, **blocks)


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_channel_bias_half_precision(dtype):
    _check_bias(_bias_inputs(1, 8, 20, 30, DTYPES[dtype], seed=3), DTYPES[dtype])


def test_entry_points_dispatch_to_the_kernels(launches):
    launches("kernels.channel_attention.kernel", "channel_attention_fwd")
    calls = launches("kernels.channel_attention.kernel", "channel_bias_fwd")
    att_args, bias_args = _attention_inputs(1, 8, 7, 9, seed=4), _bias_inputs(1, 8, 7, 9, seed=4)
    try:
        dispatch.set_backend("triton")
        att, bias = channel_attention(*att_args), channel_bias(*bias_args)
    finally:
        dispatch.set_backend(None)
    assert calls == ["channel_attention_fwd", "channel_bias_fwd"]  # the kernels ran, not a fallback
    torch.testing.assert_close(att, channel_attention_reference(*att_args), atol=2e-5, rtol=2e-5)
    torch.testing.assert_close(bias, channel_bias_reference(*bias_args), atol=2e-5, rtol=2e-5)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("shape", [(2, 8, 67, 93), (1, 8, 128, 96), (3, 8, 17, 130)])
def test_channel_ops_full_sweep(shape, dtype):
    _check_attention(_attention_inputs(*shape, dtype=DTYPES[dtype], seed=5), DTYPES[dtype])
    _check_attention(_attention_inputs(*shape, dtype=DTYPES[dtype], seed=6), DTYPES[dtype], block_n=128, n_split=5)
    _check_bias(_bias_inputs(*shape, DTYPES[dtype], seed=7), DTYPES[dtype])
