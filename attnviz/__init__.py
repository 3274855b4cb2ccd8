"""attnviz: see, number by number, how a self-attention text classifier reads a sentence.

    import attnviz
    model = attnviz.load_model()          # routes each text to the shipped model of its script (en / zh)
    result = model.analyze("not bad at all")
    result.attention                      # (n, n) softmax matrix, rows sum to 1
    result.contributions.sum() + result.bias == result.logit

TensorFlow is imported on the first ``load_model`` call, not on ``import attnviz``.
"""

from __future__ import annotations

from attnviz.analysis import Analysis
from attnviz.errors import AttnvizError, DataUnavailableError, EmptyInputError, ModelLoadError

__all__ = ["Analysis", "AttnvizError", "DataUnavailableError", "EmptyInputError", "ModelLoadError",
           "load_model"]
__version__ = "0.1.0"


def load_model(name_or_path=None):
    """Load (once per process) a model: ``None``/``"auto"`` routes each text by script to the bundled English
    or Chinese model; ``"en"``/``"zh"`` or a user model name, or a model directory, loads that one."""
    from attnviz.model import load_model as _load_model

    return _load_model(name_or_path)
