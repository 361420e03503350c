"""Dispatch: the one place that picks the Triton kernels or the PyTorch reference."""

import pytest
import torch

from kernels import dispatch


@pytest.fixture(autouse=True)
def _no_override():
    dispatch.set_backend(None)
    yield
    dispatch.set_backend(None)


@pytest.mark.parametrize("value, expected", [("auto", "auto"), ("triton", "triton"), ("torch", "torch"), (" Torch ", "torch"), ("", "auto")])
def test_env_values(monkeypatch, value, expected):
    monkeypatch.setenv("RECNET_BACKEND", value)
    assert dispatch.requested_backend() == expected


def test_env_unset_is_auto(monkeypatch):
    monkeypatch.delenv("RECNET_BACKEND", raising=False)
    assert dispatch.requested_backend() == "auto"


def test_invalid_env_value_raises(monkeypatch):
    monkeypatch.setenv("RECNET_BACKEND", "cuda")
    with pytest.raises(ValueError, match="RECNET_BACKEND"):
        dispatch.use_triton(torch.zeros(1))


def test_invalid_set_backend_raises():
    with pytest.raises(ValueError):
        dispatch.set_backend("fast")


def test_set_backend_overrides_env(monkeypatch):
    monkeypatch.setenv("RECNET_BACKEND", "torch")
    dispatch.set_backend("triton")
    assert dispatch.requested_backend() == "triton"
    dispatch.set_backend(None)
    assert dispatch.requested_backend() == "torch"


def test_cpu_tensors_with_auto_use_the_reference(monkeypatch):
    monkeypatch.delenv("RECNET_BACKEND", raising=False)
    assert not dispatch.use_triton(torch.zeros(2, 2))
    assert dispatch.backend_name("cpu") == "PyTorch"


def test_torch_forced_never_runs_triton():
    dispatch.set_backend("torch")
    assert not dispatch.use_triton(torch.zeros(1))


def test_triton_forced_on_cpu_under_the_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    dispatch.set_backend("triton")
    assert dispatch.use_triton(torch.zeros(1))
    assert dispatch.backend_name("cpu") == "Triton kernels (interpreter)"


def test_triton_forced_on_cpu_without_the_interpreter_says_why(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    dispatch.set_backend("triton")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        dispatch.use_triton(torch.zeros(1))
    assert dispatch.backend_name("cpu").startswith("PyTorch (")


def test_grad_required_falls_back_to_the_reference():
    dispatch.set_backend("triton")
    weight = torch.zeros(3, requires_grad=True)
    assert not dispatch.use_triton(torch.zeros(1), weight)
    with torch.no_grad():
        assert dispatch.use_triton(torch.zeros(1), weight)
    with torch.inference_mode():
        assert dispatch.use_triton(torch.zeros(1), weight)


def test_grad_required_op_matches_reference_and_backpropagates():
    """Forced triton with a weight that needs grad: the op runs the reference and grads flow."""
    from kernels import channel_bias
    from kernels.channel_attention import channel_bias_reference

    dispatch.set_backend("triton")
    torch.manual_seed(0)
    features, x = torch.randn(1, 8, 5, 6), torch.randn(1, 8, 5, 6)
    squeeze_w = torch.randn(2, 8, 1, 1, requires_grad=True)
    args = (features, x, squeeze_w, torch.randn(2), torch.randn(8, 2, 1, 1), torch.randn(8))
    out = channel_bias(*args)
    out.sum().backward()
    assert squeeze_w.grad is not None
    torch.testing.assert_close(out, channel_bias_reference(*args))


def test_ops_route_to_the_reference_when_torch_is_chosen(monkeypatch):
    """With ``torch`` chosen no kernel module is even imported by a call."""
    import kernels
    from kernels.region_norm.reference import region_norm_reference

    dispatch.set_backend("torch")
    torch.manual_seed(0)
    x, mask = torch.randn(1, 8, 6, 7), torch.rand(1, 1, 6, 7)
    args = (x, mask, 1 - mask, torch.randn(3, 1, 3, 3, 3), torch.randn(8), torch.randn(8))
    for got, expected in zip(kernels.region_norm(*args), region_norm_reference(*args)):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_cpu_tensor_kernel_tests_skip_on_a_cuda_machine_without_the_interpreter(monkeypatch):
    """On an H200 these tests failed on CPU tensors (interpreter off); now they skip with a reason."""
    from types import SimpleNamespace

    from tests.conftest import _cpu_kernel_test_without_interpreter as skipped

    item = lambda nodeid, *marks: SimpleNamespace(nodeid=nodeid, keywords=set(marks))  # noqa: E731
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert skipped(item("tests/kernels/test_kernel_blur.py::test_blur_matches_reference"))
    assert not skipped(item("tests/kernels/test_kernel_gpu.py::test_blur_gpu", "gpu"))
    assert not skipped(item("tests/test_pipeline.py::test_x"))
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert not skipped(item("tests/kernels/test_kernel_blur.py::test_blur_matches_reference"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("TRITON_INTERPRET")
    assert not skipped(item("tests/kernels/test_kernel_blur.py::test_blur_matches_reference"))
