"""Shared pytest setup.

Without CUDA the Triton kernels run through the interpreter: TRITON_INTERPRET must be set
before triton decorates any kernel, so it is set here, before the tests import anything.
``--full`` runs the full (slow) sweeps; GPU tests skip cleanly without CUDA.
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

torch.set_num_threads(min(2, os.cpu_count() or 1))


# The kernel tests that are not marked gpu launch kernels on CPU tensors, through the interpreter.
# On a CUDA machine the interpreter is off (the gpu tests need compiled kernels), so those run in
# a second pass instead: benchmarks/gpu_tests.sh runs `TRITON_INTERPRET=1 pytest -m "not gpu"`.
INTERPRETER_SKIP = "CPU-tensor kernel test on a CUDA machine: run it with TRITON_INTERPRET=1 (benchmarks/gpu_tests.sh)"
KERNEL_TESTS = ("tests/kernels/", "tests/test_official_vector.py")


def _cpu_kernel_test_without_interpreter(item) -> bool:
    interpreting = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
    in_scope = any(part in item.nodeid for part in KERNEL_TESTS)
    return torch.cuda.is_available() and not interpreting and in_scope and "gpu" not in item.keywords


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", help="run the full (slow) sweeps")


def pytest_collection_modifyitems(config, items):
    full = config.getoption("--full")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
        if _cpu_kernel_test_without_interpreter(item):
            item.add_marker(pytest.mark.skip(reason=INTERPRETER_SKIP))
        if "slow" in item.keywords and not full:
            item.add_marker(pytest.mark.skip(reason="slow; run with --full"))


@pytest.fixture
def one_torch_thread():
    """Small tensors: one thread is fastest, and two threads spin-wait on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
