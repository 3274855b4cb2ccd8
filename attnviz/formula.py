"""The attention classifier, step by step, in plain NumPy (float64).

This is the reference the Keras model is tested against, and what the formula page shows. Shapes:
``n`` tokens, ``d`` embedding width.

    S   = X Xᵀ                      (n, n)  unscaled dot products, as keras.layers.Attention()
    A   = softmax over each row of S (n, n)  row i: how query token i spreads its attention
    O   = A X                        (n, d)  attention output
    p̄   = mean_i O_i                 (d,)    GlobalAveragePooling1D
    W_j = mean_i A_ij                (n,)    the seed article's formula (attention token j receives)
    p̄   = Σ_j W_j x_j                        because pooling is linear
    z   = w·p̄ + b = b + Σ_j W_j (w·x_j)      the exact per-token split of the logit
    P   = σ(z)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check_matrix(name: str, array: np.ndarray, rows: int | None = None, columns: int | None = None) -> None:
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    if rows is not None and array.shape[0] != rows:
        raise ValueError(f"{name} has {array.shape[0]} rows, expected {rows}")
    if columns is not None and array.shape[1] != columns:
        raise ValueError(f"{name} has {array.shape[1]} columns, expected {columns}")


def dot_product_scores(embeddings: np.ndarray) -> np.ndarray:
    """(n, d) -> (n, n): S_ij = x_i · x_j."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    _check_matrix("embeddings", embeddings)
    return embeddings @ embeddings.T


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    """(n, m) -> (n, m): softmax of each row. Subtracting the row maximum changes nothing mathematically
    (it cancels in the fraction) but keeps exp() from overflowing."""
    scores = np.asarray(scores, dtype=np.float64)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def received_attention(attention: np.ndarray) -> np.ndarray:
    """(n, n) -> (n,): W_j = (1/n) Σ_i A_ij, the average attention token j receives."""
    attention = np.asarray(attention, dtype=np.float64)
    _check_matrix("attention", attention, columns=attention.shape[0])
    return attention.mean(axis=0)


def token_logits(embeddings: np.ndarray, classifier_weights: np.ndarray) -> np.ndarray:
    """(n, d), (d,) -> (n,): w · x_j."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    classifier_weights = np.asarray(classifier_weights, dtype=np.float64).reshape(-1)
    _check_matrix("embeddings", embeddings, columns=classifier_weights.shape[0])
    return embeddings @ classifier_weights


def logit_contributions(received: np.ndarray, token_logit_values: np.ndarray) -> np.ndarray:
    """(n,), (n,) -> (n,): W_j · (w · x_j). Their sum plus the bias is the logit."""
    received = np.asarray(received, dtype=np.float64)
    token_logit_values = np.asarray(token_logit_values, dtype=np.float64)
    if received.shape != token_logit_values.shape:
        raise ValueError(f"received has shape {received.shape} but token logits have {token_logit_values.shape}")
    return received * token_logit_values


def sigmoid(value: np.ndarray | float) -> np.ndarray | float:
    """Numerically stable logistic function."""
    value = np.asarray(value, dtype=np.float64)
    result = np.where(value >= 0, 1.0 / (1.0 + np.exp(-np.abs(value))),
                      np.exp(-np.abs(value)) / (1.0 + np.exp(-np.abs(value))))
    return float(result) if result.ndim == 0 else result


@dataclass(frozen=True)
class FormulaSteps:
    """Every intermediate array of the computation (float64), named as on the formula page."""

    embeddings: np.ndarray        # (n, d) X
    scores: np.ndarray            # (n, n) S = X Xᵀ (before any what-if scale)
    scale: float                  # factor applied to S before the softmax; 1.0 is the trained model
    scaled_scores: np.ndarray     # (n, n) scale · S
    shifted_exponentials: np.ndarray  # (n, n) exp(scale·S_ij − max_k scale·S_ik), what is summed
    row_sums: np.ndarray          # (n,) Σ_k of shifted_exponentials
    attention: np.ndarray         # (n, n) A
    attention_output: np.ndarray  # (n, d) O = A X
    pooled: np.ndarray            # (d,) mean_i O_i
    received: np.ndarray          # (n,) W_j
    pooled_from_received: np.ndarray  # (d,) Σ_j W_j x_j (equals pooled)
    token_logits: np.ndarray      # (n,) w · x_j
    contributions: np.ndarray     # (n,) W_j (w · x_j)
    bias: float
    logit: float                  # w · pooled + b
    probability: float            # σ(logit)


def compute_steps(embeddings: np.ndarray, classifier_weights: np.ndarray, bias: float,
                  scale: float = 1.0) -> FormulaSteps:
    """Run the whole classifier head from the embeddings, in NumPy.

    ``scale`` multiplies the scores before the softmax. The trained model uses 1.0 (Keras' ``Attention()``
    has no scaling); 1/√d is what the Transformer paper uses. Any other value is hypothetical.
    """
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be a finite number ≥ 0, got {scale}")
    embeddings = np.asarray(embeddings, dtype=np.float64)
    classifier_weights = np.asarray(classifier_weights, dtype=np.float64).reshape(-1)
    _check_matrix("embeddings", embeddings, columns=classifier_weights.shape[0])
    if embeddings.shape[0] == 0:
        raise ValueError("embeddings has 0 rows; at least one token is needed")
    scores = dot_product_scores(embeddings)
    scaled_scores = scale * scores
    shifted_exponentials = np.exp(scaled_scores - scaled_scores.max(axis=1, keepdims=True))
    row_sums = shifted_exponentials.sum(axis=1)
    attention = shifted_exponentials / row_sums[:, None]
    attention_output = attention @ embeddings
    pooled = attention_output.mean(axis=0)
    received = received_attention(attention)
    per_token_logits = token_logits(embeddings, classifier_weights)
    contributions = logit_contributions(received, per_token_logits)
    logit = float(pooled @ classifier_weights + bias)
    return FormulaSteps(
        embeddings=embeddings, scores=scores, scale=float(scale), scaled_scores=scaled_scores,
        shifted_exponentials=shifted_exponentials, row_sums=row_sums, attention=attention,
        attention_output=attention_output, pooled=pooled, received=received,
        pooled_from_received=received @ embeddings, token_logits=per_token_logits,
        contributions=contributions, bias=float(bias), logit=logit, probability=sigmoid(logit),
    )


def max_abs_differences(steps: FormulaSteps, analysis) -> dict[str, float]:
    """Largest |NumPy − Keras| for each quantity the model computed (``analysis`` is an ``Analysis``)."""
    pairs = {
        "scores": (steps.scores, analysis.scores),
        "attention": (steps.attention, analysis.attention),
        "attention_output": (steps.attention_output, analysis.attention_output),
        "pooled": (steps.pooled, analysis.pooled),
        "logit": (steps.logit, analysis.logit),
        "probability": (steps.probability, analysis.probability),
    }
    return {name: float(np.max(np.abs(np.asarray(ours, dtype=np.float64) - np.asarray(theirs, dtype=np.float64))))
            for name, (ours, theirs) in pairs.items()}
