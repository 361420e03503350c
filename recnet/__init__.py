"""RECNet mixed exposure correction: the model, its weights, the image pipeline and the CLI.

Public API: ``load_model``, ``enhance`` (``recnet.inference.pipeline``), ``RECNet``.
"""

from recnet.checkpoints import CheckpointError
from recnet.inference.pipeline import EnhanceResult, enhance
from recnet.model import RECNet, RECNetOutput
from recnet.weights import DEFAULT_WEIGHTS, load_model

__all__ = ["CheckpointError", "DEFAULT_WEIGHTS", "EnhanceResult", "RECNet", "RECNetOutput", "enhance", "load_model"]
