"""The numbers behind the Model card page, computed from a split and a model's test probabilities.

All functions are plain: arrays in, JSON-friendly numbers out. ``ModelCard`` is stored in ``metrics.json``
(key ``card``) for models trained on an uploaded file, whose data the server does not keep; for a bundled
corpus the page rebuilds it from the corpus and a fresh evaluation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

CLASS_NAMES = ("negative", "positive")  # label 0, label 1
DECISION_THRESHOLD = 0.5
CALIBRATION_BINS = 10
TOKEN_LENGTH_BIN_WIDTH = 5
WRONG_EXAMPLES = 10


def class_counts(labels: np.ndarray) -> dict[str, int]:
    """``{"negative": #label 0, "positive": #label 1}`` for (m,) labels in {0, 1}."""
    labels = np.asarray(labels)
    unexpected = set(np.unique(labels).tolist()) - {0, 1}
    if unexpected:
        raise ValueError(f"labels must be 0 or 1, found {sorted(unexpected)}")
    return {name: int((labels == value).sum()) for value, name in enumerate(CLASS_NAMES)}


def token_lengths(texts: list[str]) -> np.ndarray:
    """(m,) number of tokens of each text as every attnviz model reads it (before truncation).

    Uses the shared ``standardize`` + whitespace split, i.e. the model's tokenisation without a vocabulary.
    """
    import tensorflow as tf

    from attnviz.text import clean_unicode, standardize

    lengths = []
    for start in range(0, len(texts), 2048):
        batch = tf.constant([clean_unicode(str(text)) for text in texts[start:start + 2048]], dtype=tf.string)
        lengths.append(tf.strings.split(standardize(batch)).row_lengths().numpy())
    return np.concatenate(lengths).astype(np.int64) if lengths else np.zeros(0, dtype=np.int64)


def length_histogram(lengths: np.ndarray, bin_width: int = TOKEN_LENGTH_BIN_WIDTH) -> tuple[list[int], list[int]]:
    """Histogram of (m,) token lengths: ``(edges, counts)`` with len(edges) == len(counts) + 1.

    Bins are ``[edges[k], edges[k+1])`` of width ``bin_width`` starting at 0; the last bin holds the maximum.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if bin_width < 1:
        raise ValueError(f"bin_width must be ≥ 1, got {bin_width}")
    top = int(lengths.max()) if lengths.size else 0
    edges = np.arange(0, top + bin_width + 1, bin_width)       # (k + 1,)
    counts, _ = np.histogram(lengths, bins=edges)              # (k,)
    return edges.astype(int).tolist(), counts.astype(int).tolist()


def confusion_matrix(labels: np.ndarray, probabilities: np.ndarray,
                     threshold: float = DECISION_THRESHOLD) -> list[list[int]]:
    """2×2 counts: rows = true label (0, 1), columns = predicted label (P ≥ threshold → 1).

    ``labels`` and ``probabilities`` are (m,) arrays of the same length.
    """
    labels, probabilities = np.asarray(labels), np.asarray(probabilities, dtype=np.float64)
    if labels.shape != probabilities.shape:
        raise ValueError(f"labels has shape {labels.shape} but probabilities has shape {probabilities.shape}")
    predictions = (probabilities >= threshold).astype(int)
    return [[int(((labels == true) & (predictions == predicted)).sum()) for predicted in (0, 1)]
            for true in (0, 1)]


def accuracy_from_matrix(matrix: list[list[int]]) -> float:
    """Fraction on the diagonal of a 2×2 confusion matrix."""
    array = np.asarray(matrix, dtype=np.int64)
    if array.shape != (2, 2):
        raise ValueError(f"matrix must be 2×2, got {array.shape}")
    return float(np.trace(array) / array.sum()) if array.sum() else float("nan")


@dataclass(frozen=True)
class Reliability:
    """Calibration of P(positive) in equal-width bins over [0, 1] (k = number of bins).

    ``mean_probability[b]`` is the mean predicted P(positive) in bin b and ``fraction_positive[b]`` the share
    of texts in it that really are positive (``None`` for empty bins). A calibrated model has them equal.
    """

    lower: list[float]                      # (k,)
    upper: list[float]                      # (k,)
    count: list[int]                        # (k,)
    mean_probability: list[float | None]    # (k,)
    fraction_positive: list[float | None]   # (k,)
    expected_calibration_error: float       # Σ_b count_b / m · |fraction_positive_b − mean_probability_b|


def reliability(labels: np.ndarray, probabilities: np.ndarray, n_bins: int = CALIBRATION_BINS) -> Reliability:
    """Reliability-diagram numbers for (m,) labels in {0, 1} and (m,) predicted P(positive)."""
    labels, probabilities = np.asarray(labels, dtype=np.float64), np.asarray(probabilities, dtype=np.float64)
    if labels.shape != probabilities.shape:
        raise ValueError(f"labels has shape {labels.shape} but probabilities has shape {probabilities.shape}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be ≥ 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bin b holds [edges[b], edges[b+1]); P = 1.0 goes into the last bin.
    bins = np.clip(np.floor(probabilities * n_bins).astype(int), 0, n_bins - 1)
    count, mean_probability, fraction_positive = [], [], []
    calibration_error = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        count.append(int(in_bin.sum()))
        if in_bin.any():
            mean_p, fraction = float(probabilities[in_bin].mean()), float(labels[in_bin].mean())
            calibration_error += in_bin.sum() / len(labels) * abs(fraction - mean_p)
        else:
            mean_p, fraction = None, None
        mean_probability.append(mean_p)
        fraction_positive.append(fraction)
    return Reliability(lower=edges[:-1].tolist(), upper=edges[1:].tolist(), count=count,
                       mean_probability=mean_probability, fraction_positive=fraction_positive,
                       expected_calibration_error=float(calibration_error))


def most_confidently_wrong(texts: list[str], labels: np.ndarray, probabilities: np.ndarray,
                           limit: int = WRONG_EXAMPLES) -> list[dict[str, Any]]:
    """The ``limit`` misclassified texts whose prediction was most confident, most confident first.

    Confidence = max(P, 1 − P) of the predicted class. Each entry: text, label (true, 0/1), probability
    (P(positive)), confidence.
    """
    labels, probabilities = np.asarray(labels), np.asarray(probabilities, dtype=np.float64)
    if not len(texts) == len(labels) == len(probabilities):
        raise ValueError(f"texts ({len(texts)}), labels ({len(labels)}) and probabilities "
                         f"({len(probabilities)}) must have the same length")
    predictions = (probabilities >= DECISION_THRESHOLD).astype(int)
    confidence = np.maximum(probabilities, 1.0 - probabilities)
    wrong = np.flatnonzero(predictions != labels)
    order = wrong[np.argsort(-confidence[wrong], kind="stable")][:limit]
    return [{"text": str(texts[i]), "label": int(labels[i]), "probability": float(probabilities[i]),
             "confidence": float(confidence[i])} for i in order]


@dataclass(frozen=True)
class ModelCard:
    """Everything the Model card page shows about a model's data and test-split quality (JSON-friendly)."""

    source: str
    licence: str
    n_examples: int
    class_counts: dict[str, int]
    split_sizes: dict[str, int]
    split_class_counts: dict[str, dict[str, int]]
    token_length_edges: list[int]
    token_length_counts: list[int]
    token_length_median: float
    token_length_max: int
    fraction_truncated: float          # share of texts longer than the model's max_tokens
    max_tokens: int
    vocabulary_size: int
    test_accuracy: float               # fresh: train.accuracy_of on the test split
    confusion_matrix: list[list[int]]  # rows true 0/1, columns predicted 0/1
    calibration: dict[str, Any]        # asdict(Reliability)
    wrong_examples: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelCard:
        return cls(**{key: values[key] for key in cls.__dataclass_fields__})


def build_card(split, test_probabilities: np.ndarray, *, source: str, licence: str, vocabulary_size: int,
               max_tokens: int, wrong_limit: int = WRONG_EXAMPLES) -> ModelCard:
    """Assemble the card from a ``data.CorpusSplit`` and the model's (m_test,) P(positive) on its test split."""
    test_probabilities = np.asarray(test_probabilities, dtype=np.float64)
    if len(test_probabilities) != len(split.test):
        raise ValueError(f"test_probabilities has {len(test_probabilities)} entries but the test split has "
                         f"{len(split.test)} rows")
    frames = {"train": split.train, "validation": split.validation, "test": split.test}
    everything = pd.concat(list(frames.values()), ignore_index=True)
    lengths = token_lengths(everything["text"].tolist())
    edges, counts = length_histogram(lengths)
    test_labels = split.test["label"].to_numpy()
    matrix = confusion_matrix(test_labels, test_probabilities)
    return ModelCard(
        source=source, licence=licence, n_examples=len(everything),
        class_counts=class_counts(everything["label"].to_numpy()),
        split_sizes={name: len(frame) for name, frame in frames.items()},
        split_class_counts={name: class_counts(frame["label"].to_numpy()) for name, frame in frames.items()},
        token_length_edges=edges, token_length_counts=counts,
        token_length_median=float(np.median(lengths)) if lengths.size else 0.0,
        token_length_max=int(lengths.max()) if lengths.size else 0,
        fraction_truncated=float((lengths > max_tokens).mean()) if lengths.size else 0.0,
        max_tokens=int(max_tokens), vocabulary_size=int(vocabulary_size),
        test_accuracy=accuracy_from_matrix(matrix), confusion_matrix=matrix,
        calibration=asdict(reliability(test_labels, test_probabilities)),
        wrong_examples=most_confidently_wrong(split.test["text"].tolist(), test_labels, test_probabilities,
                                              limit=wrong_limit),
    )


def corpus_provenance(corpus: str, metrics: dict[str, Any]) -> tuple[str, str]:
    """``(source, licence)`` of the data a model was trained on, from ``data.CORPORA`` or the upload record."""
    from attnviz import data

    if corpus in data.CORPORA:
        source = data.CORPORA[corpus]
        return source.description, source.licence
    upload = metrics.get("upload", {})
    return (f"A CSV file uploaded in the browser ({upload.get('filename', 'name not recorded')})",
            "as given by whoever uploaded it (not checked)")


def card_for_model(model, split=None) -> ModelCard:
    """The card for an ``AttentionModel``: rebuilt from its bundled corpus and a fresh test evaluation, or
    the copy stored in ``metrics.json`` when the model was trained on an uploaded file.

    Raises ``DataUnavailableError`` when the corpus is neither cached nor downloadable, and ``KeyError``
    when an uploaded-data model has no stored card.
    """
    from attnviz import data, train

    metrics = model.metrics
    corpus = metrics.get("corpus", "")
    if corpus not in data.CORPORA:
        return ModelCard.from_dict(metrics["card"])
    if split is None:
        split = data.load_split(corpus, seed=metrics.get("split", {}).get("seed", data.SPLIT_SEED))
    _, probabilities = train.accuracy_of(model.keras_model, split.test)
    source, licence = corpus_provenance(corpus, metrics)
    return build_card(split, probabilities, source=source, licence=licence,
                      vocabulary_size=len(model.vocabulary), max_tokens=model.max_tokens)


def explore_url(text: str, model_name: str | None = None, default_model: str = "en") -> str:
    """A relative link that opens ``text`` on the Explore page (``./?text=...``, plus ``&model=`` when the
    model is not the default). Everything is percent-encoded, so the link is safe inside Markdown."""
    from urllib.parse import quote

    url = "./?text=" + quote(text, safe="")
    if model_name and model_name != default_model:
        url += "&model=" + quote(model_name, safe="")
    return url
