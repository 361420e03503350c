"""Kernel tests: one torch thread while each test runs.

The interpreter is single-threaded NumPy and the float64 references run on small tensors; on a
shared 2-core machine a second intra-op thread mostly spins (a 24x17 RECNet forward takes 2.7 s
with two threads there and 0.03 s with one). The previous setting is restored after each test.
"""

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every kernel test runs on one torch thread (fixture in tests/conftest.py)."""


@pytest.fixture
def launches(monkeypatch):
    """``launches(module, name)`` wraps a kernel launcher so a test can assert it really ran:
    a dispatch that quietly fell back to the reference would pass an equality check alone."""
    import importlib

    calls = []

    def spy(module_name: str, name: str) -> list:
        module = importlib.import_module(module_name)
        original = getattr(module, name)

        def wrapped(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)
        return calls

    return spy
