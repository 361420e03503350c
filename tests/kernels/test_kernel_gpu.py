"""Real-GPU checks (skipped without CUDA): larger shapes, all dtypes, and CUDA-graph capture of every op."""

import pytest
import torch
from kernel_checks import as_float64, assert_matches
from test_kernel_blur import _expected as blur_expected
from test_kernel_channel_attention import _attention_inputs, _bias_inputs, _logit_conditioning
from test_kernel_region_norm import _inputs as region_inputs

from kernels.blur import gaussian_kernel, separable_factors
from kernels.blur.kernel import blur_fwd
from kernels.channel_attention.kernel import channel_attention_fwd, channel_bias_fwd
from kernels.channel_attention.reference import channel_attention_reference, channel_bias_reference
from kernels.region_norm.kernel import region_norm_fwd
from kernels.region_norm.reference import region_norm_reference

pytestmark = pytest.mark.gpu

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
SHAPES = [(1, 8, 1024, 768), (2, 8, 517, 333), (1, 8, 2048, 2048)]


def _cuda(args):
    return tuple(a.cuda() if isinstance(a, torch.Tensor) else a for a in args)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_region_norm_gpu(shape, dtype):
    args = _cuda(region_inputs(*shape, DTYPES[dtype], seed=11))
    got = region_norm_fwd(*args)
    for i, (g, e) in enumerate(zip(got, region_norm_reference(*as_float64(*args)))):
        assert_matches(g, e, DTYPES[dtype], shape[2] * shape[3], f"branch {i}")


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_channel_ops_gpu(shape, dtype):
    args = _cuda(_attention_inputs(*shape, dtype=DTYPES[dtype], seed=12))
    expected = channel_attention_reference(*as_float64(*args))
    n = shape[2] * shape[3]
    assert_matches(channel_attention_fwd(*args), expected, DTYPES[dtype], n, "attention", _logit_conditioning(args, expected))
    args = _cuda(_bias_inputs(*shape, DTYPES[dtype], seed=13))
    assert_matches(channel_bias_fwd(*args), channel_bias_reference(*as_float64(*args)), DTYPES[dtype], n, "bias")


@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_blur_gpu(dtype, separable):
    mask = torch.rand(2, 1, 517, 333, device="cuda").to(DTYPES[dtype])
    kernel = gaussian_kernel(31, 3.0).cuda()
    if not separable:
        kernel = kernel + 1e-3 * torch.randn_like(kernel)
    factors = separable_factors(kernel) if separable else None
    out = blur_fwd(mask, kernel, factors)
    under, over = blur_expected(mask, kernel)
    assert_matches(out[0], under, DTYPES[dtype], 961, "blur(mask)")
    assert_matches(out[1], over, DTYPES[dtype], 961, "blur(1 - mask)")


def test_every_op_captures_in_a_cuda_graph():
    """No launcher synchronises with the host (no .item(), no CPU tensors): all of them replay from a graph."""
    region = _cuda(region_inputs(1, 8, 300, 400, seed=14))
    attention = _cuda(_attention_inputs(1, 8, 300, 400, seed=15))
    bias = _cuda(_bias_inputs(1, 8, 300, 400, seed=16))
    mask = torch.rand(1, 1, 300, 400, device="cuda")
    kernel = gaussian_kernel(31, 3.0).cuda()
    factors = tuple(f.cuda() for f in separable_factors(kernel))

    def forward():
        return (*region_norm_fwd(*region), channel_attention_fwd(*attention), channel_bias_fwd(*bias), blur_fwd(mask, kernel, factors))

    eager = forward()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        forward()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = forward()
    graph.replay()
    torch.cuda.synchronize()
    for got, expected in zip(captured, eager):
        torch.testing.assert_close(got, expected, atol=0, rtol=0)
