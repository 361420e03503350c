"""``pip install .`` gives a ``recnet`` command and the shipped weights (the wheel is built here, not installed)."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_the_packages_the_weights_and_the_recnet_command(tmp_path):
    pytest.importorskip("setuptools")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("recnet_exposure_studio-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    for needed in ("recnet/inference/pipeline.py", "recnet/image_io/png.py", "recnet/weights/recnet_mixed_exposure.pt",
                   "recnet/weights/MODEL_CARD.md", "kernels/dispatch.py", "kernels/region_norm/kernel.py",
                   "demo/ui.py", "demo/about.md"):  # fmt: skip
        assert needed in names, needed
    assert not any(n.startswith("tests/") for n in names)
    assert "recnet = recnet.__main__:main" in entry_points


def test_the_command_line_entry_point_runs():
    from recnet.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
