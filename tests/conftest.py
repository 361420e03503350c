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


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", help="run the full (slow) sweeps")


def pytest_collection_modifyitems(config, items):
    full = config.getoption("--full")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
        if "slow" in item.keywords and not full:
            item.add_marker(pytest.mark.skip(reason="slow; run with --full"))


@pytest.fixture
def one_torch_thread():
    """Small tensors: one thread is fastest, and two threads spin-wait on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
