"""python -m recnet before-after: the sheet a change of weights is judged by."""

import numpy as np
import torch
from PIL import Image

import recnet
from recnet.__main__ import main
from recnet.checkpoints import save_weights


def _weights(path, seed):
    torch.manual_seed(seed)
    model = recnet.RECNet()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_weights(model, path)
    return path


def test_compare_adds_a_column_of_the_other_weights(tmp_path, one_torch_thread):
    photo = tmp_path / "photos" / "p.png"
    photo.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(photo)
    new, old = _weights(tmp_path / "new.pt", 0), _weights(tmp_path / "old.pt", 1)
    args = [str(photo.parent), "--weights", str(new), "--device", "cpu", "--size", "60", "--columns", "1", "--strength", "1"]
    assert main(["before-after", *args, "-o", str(tmp_path / "plain.png")]) == 0
    assert main(["before-after", *args, "--compare", str(old), "-o", str(tmp_path / "both.png")]) == 0
    plain, both = Image.open(tmp_path / "plain.png"), Image.open(tmp_path / "both.png")
    assert both.height == plain.height and both.width > plain.width + 50  # one more 60-px column
    # the new column shows different pixels than the new weights' own column
    a = np.asarray(both.convert("RGB"), dtype=np.int16)
    col = lambda k: a[6:46, 6 + k * 66 : 6 + k * 66 + 60]  # noqa: E731  (PAD 6, tile 60x40)
    assert np.abs(col(1) - col(2)).mean() > 1.0
