"""Kernel tests: one torch thread while each test runs.

The interpreter is single-threaded NumPy and the float64 references run on small tensors; on a
shared 2-core machine a second intra-op thread mostly spins (a 24x17 RECNet forward takes 2.7 s
with two threads there and 0.03 s with one). The previous setting is restored after each test.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
