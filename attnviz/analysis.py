"""The one result type every page, the CLI and the tests consume.

Shapes use ``n`` = number of tokens the model read (after truncation) and ``d`` = embedding width.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

POSITIVE = "positive"
NEGATIVE = "negative"


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything the model computed for one text, plus the exact decomposition of its logit.

    ``attention``, ``logit`` and ``probability`` come from one call of the trained Keras layers;
    ``received``, ``token_logits`` and ``contributions`` are exact linear read-outs of them (see ``formula``).
    Arrays are read-only because one Analysis may be shared by many sessions through a cache.
    """

    text: str                    # the original input
    model_name: str              # which model produced it, e.g. "en"
    tokens: list[str]            # (n,) tokens as the model sees them (standardised, truncated)
    token_ids: np.ndarray        # (n,) int, vocabulary ids; 1 is the unknown-word token
    oov: np.ndarray              # (n,) bool, True where the word is not in the vocabulary
    embeddings: np.ndarray       # (n, d) x_i, the embedding rows (queries = keys = values)
    scores: np.ndarray           # (n, n) S_ij = x_i · x_j (unscaled, as Keras' Attention)
    attention: np.ndarray        # (n, n) A_ij = softmax_j(S_ij); row i = query token i; rows sum to 1
    attention_output: np.ndarray  # (n, d) o_i = sum_j A_ij x_j
    pooled: np.ndarray           # (d,) mean_i o_i (GlobalAveragePooling1D)
    received: np.ndarray         # (n,) W_j = mean_i A_ij, the seed's formula: attention token j receives
    token_logits: np.ndarray     # (n,) w · x_j, what token j would add to the logit at full weight
    contributions: np.ndarray    # (n,) W_j * (w · x_j); bias + sum(contributions) == logit
    classifier_weights: np.ndarray  # (d,) w of the final Dense layer
    bias: float                  # b of the final Dense layer
    logit: float                 # w · pooled + b, from the Keras graph
    probability: float           # sigmoid(logit) from the Keras Dense layer: P(positive)
    truncated: bool              # True when the text had more tokens than the model's limit
    n_input_tokens: int          # number of tokens before truncation

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def label(self) -> str:
        return POSITIVE if self.probability >= 0.5 else NEGATIVE

    @property
    def all_unknown(self) -> bool:
        """True when every token is unknown to the model, so the prediction rests on the OOV embedding."""
        return bool(self.oov.all())

    @property
    def token_labels(self) -> list[str]:
        """Unique display labels, one per position ("film #1", "film #4"): equal words stay separate."""
        return [f"{token} #{position}" for position, token in enumerate(self.tokens, start=1)]

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types (arrays become nested lists); includes ``label`` and ``n_tokens``."""
        result: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            result[item.name] = value.tolist() if isinstance(value, np.ndarray) else value
        result["label"] = self.label
        result["n_tokens"] = self.n_tokens
        return result

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)


def frozen_array(values: Any, dtype: Any = None) -> np.ndarray:
    """A read-only copy of ``values``."""
    array = np.array(values, dtype=dtype, copy=True)
    array.flags.writeable = False
    return array
