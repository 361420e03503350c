"""The RIN mask blur kernels (exact 2-D and separable) against the float64 reference, under the interpreter on CPU."""

import pytest
import torch
from kernel_checks import as_float64, assert_matches, poisoned_outputs

from kernels import dispatch
from kernels.blur import blur_mask, blur_masks, gaussian_kernel, separable_factors
from kernels.blur.kernel import blur_fwd
from kernels.blur.reference import blur_mask_reference

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _expected(mask, kernel):
    m, k = as_float64(mask, kernel)
    return blur_mask_reference(m, k), blur_mask_reference(1 - m, k)


def _check(mask, kernel, factors, dtype, **blocks):
    with poisoned_outputs():
        out = blur_fwd(mask, kernel, factors, **blocks)
    under, over = _expected(mask, kernel)
    taps = kernel.shape[-1] ** 2
    assert_matches(out[0], under, dtype, taps, "blur(mask)")
    assert_matches(out[1], over, dtype, taps, "blur(1 - mask)")


CASES = [
    # (B, H, W), K, separable, blocks
    ((1, 67, 93), 31, True, {}),
    ((1, 1, 1), 31, True, {}),
    ((2, 20, 37), 31, True, dict(block_h=16, block_w=32)),  # several tiles, partial edge tiles, batch 2
    ((1, 1, 1), 31, False, {}),
    ((1, 3, 2), 31, False, {}),  # image smaller than the kernel
    ((2, 23, 19), 7, False, dict(block_h=16, block_w=16)),
]


@pytest.mark.parametrize("shape, k, separable, blocks", CASES, ids=[f"{c[0]}-k{c[1]}-{'sep' if c[2] else '2d'}" for c in CASES])
def test_blur_matches_reference(shape, k, separable, blocks):
    torch.manual_seed(k + shape[1])
    b, h, w = shape
    mask = torch.rand(b, 1, h, w)
    if separable:
        kernel = gaussian_kernel(k, 3.0)
        factors = separable_factors(kernel)
        assert factors is not None
    else:
        kernel = torch.randn(1, 1, k, k) / k  # not rank-1, with negative taps
        factors = None
    _check(mask, kernel, factors, torch.float32, **blocks)


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_blur_half_precision(dtype):
    torch.manual_seed(1)
    mask = torch.rand(1, 1, 20, 30).to(DTYPES[dtype])
    kernel = gaussian_kernel(31, 3.0)
    _check(mask, kernel, separable_factors(kernel), DTYPES[dtype])


def test_blur_strided_mask():
    """A mask that is a view (channel slice of a wider tensor) is read through its strides."""
    torch.manual_seed(2)
    wide = torch.rand(2, 3, 17, 29)
    mask = wide[:, 1:2]
    kernel = gaussian_kernel(31, 3.0)
    _check(mask, kernel, separable_factors(kernel), torch.float32)
    _check(mask, torch.randn(1, 1, 5, 5), None, torch.float32)


def test_entry_points_dispatch_to_the_kernels(launches):
    calls = launches("kernels.blur.kernel", "blur_fwd")
    torch.manual_seed(3)
    mask = torch.rand(1, 1, 12, 9)
    kernel = gaussian_kernel(31, 3.0)
    factors = separable_factors(kernel)
    try:
        dispatch.set_backend("triton")
        single = blur_mask(mask, kernel, factors)
        pair = blur_masks(mask, kernel, factors)
        dispatch.set_backend("torch")
        reference_pair = blur_masks(mask, kernel, factors)
    finally:
        dispatch.set_backend(None)
    assert calls == ["blur_fwd", "blur_fwd"]  # both triton calls ran the kernel, the torch one did not
    assert single.shape == (1, 1, 12, 9)
    torch.testing.assert_close(single, reference_pair[0], atol=1e-6, rtol=1e-5)
    for got, expected in zip(pair, reference_pair):
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("shape", [(2, 67, 93), (1, 40, 56)])
def test_blur_2d_full_kernel_sweep(shape, dtype):
    torch.manual_seed(4)
    b, h, w = shape
    mask = torch.rand(b, 1, h, w).to(DTYPES[dtype])
    _check(mask, torch.randn(1, 1, 31, 31) / 31, None, DTYPES[dtype])
