"""Training, evaluation and the TF-IDF + logistic-regression baseline, all on the same split.

The test split is touched only by ``evaluate_model`` / ``baseline_test_accuracy`` for the final report;
epochs (early stopping) and the baseline's C are chosen on the validation split.
"""

from __future__ import annotations

import datetime as _datetime
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attnviz import data
from attnviz.model import ModelConfig, build_keras_model, make_vectorizer, save_model_directory

BASELINE_C_GRID = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (stored in ``metrics.json``)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 30                # upper bound; early stopping on validation loss decides
    batch_size: int = 32
    learning_rate: float = 2e-3
    patience: int = 3               # epochs without validation improvement before stopping
    seed: int = 1234                # weights, dropout and shuffling

    def __post_init__(self) -> None:
        if not 1 <= self.epochs <= 500:
            raise ValueError(f"epochs must be between 1 and 500, got {self.epochs}")
        if not 1 <= self.batch_size <= 4096:
            raise ValueError(f"batch_size must be between 1 and 4096, got {self.batch_size}")
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate must be in (0, 1], got {self.learning_rate}")


def _keras():
    import keras

    return keras


def _text_tensor(texts: pd.Series):
    import tensorflow as tf

    # pandas 3 stores text as Arrow strings: hand Keras a plain list of Python str.
    return tf.constant([str(text) for text in texts])[:, None]


def train_model(split: data.CorpusSplit, config: TrainConfig = TrainConfig(),
                callbacks: list | None = None, verbose: int = 1):
    """Adapt the vocabulary on the training texts and fit the seed architecture.

    Returns ``(keras_model, history)`` where ``history`` maps metric names to per-epoch lists.
    """
    keras = _keras()
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    vectorizer = make_vectorizer(config.model)
    vectorizer.adapt(tf.constant([str(text) for text in split.train["text"]]))
    keras_model = build_keras_model(config.model, vectorizer)
    keras_model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="binary_crossentropy",
                        metrics=["accuracy"])
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience,
                                                   restore_best_weights=True)
    history = keras_model.fit(
        _text_tensor(split.train["text"]), split.train["label"].to_numpy(dtype=np.float32),
        validation_data=(_text_tensor(split.validation["text"]),
                         split.validation["label"].to_numpy(dtype=np.float32)),
        epochs=config.epochs, batch_size=config.batch_size, shuffle=True, verbose=verbose,
        callbacks=[early_stopping, *(callbacks or [])],
    )
    curves = {key: [float(v) for v in values] for key, values in history.history.items()}
    curves["best_epoch"] = int(np.argmin(curves["val_loss"])) + 1
    return keras_model, curves


def accuracy_of(keras_model, frame: pd.DataFrame) -> tuple[float, np.ndarray]:
    """Accuracy and (m,) probabilities of a Keras text model on ``frame``."""
    probabilities = keras_model.predict(_text_tensor(frame["text"]), batch_size=512, verbose=0)[:, 0]
    predictions = (probabilities >= 0.5).astype(int)
    return float((predictions == frame["label"].to_numpy()).mean()), probabilities.astype(np.float64)


def baseline_pipeline(C: float, language: str = "en"):
    """TF-IDF (word 1-2 grams; characters 1-3 grams for Chinese) + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if language == "zh":
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    else:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    return make_pipeline(vectorizer, LogisticRegression(C=C, max_iter=2000))


def baseline_report(split: data.CorpusSplit, language: str = "en") -> dict[str, Any]:
    """Choose C on validation, refit on train, report validation and test accuracy."""
    best_C, best_validation = None, -1.0
    for C in BASELINE_C_GRID:
        pipeline = baseline_pipeline(C, language).fit(split.train["text"].tolist(), split.train["label"])
        validation_accuracy = float(pipeline.score(split.validation["text"].tolist(), split.validation["label"]))
        if validation_accuracy > best_validation:
            best_C, best_validation = C, validation_accuracy
    pipeline = baseline_pipeline(best_C, language).fit(split.train["text"].tolist(), split.train["label"])
    return {
        "name": "TF-IDF (word 1-2 grams) + logistic regression" if language != "zh"
        else "TF-IDF (character 1-3 grams) + logistic regression",
        "C": best_C,
        "validation_accuracy": best_validation,
        "test_accuracy": float(pipeline.score(split.test["text"].tolist(), split.test["label"])),
    }


def library_versions() -> dict[str, str]:
    import keras
    import sklearn
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__}


def build_metrics(keras_model, split: data.CorpusSplit, config: TrainConfig, curves: dict, corpus: str,
                  corpus_checksum: str, seconds: float, include_baseline: bool = True) -> dict[str, Any]:
    validation_accuracy, _ = accuracy_of(keras_model, split.validation)
    test_accuracy, test_probabilities = accuracy_of(keras_model, split.test)
    labels = split.test["label"].to_numpy()
    predictions = (test_probabilities >= 0.5).astype(int)
    metrics: dict[str, Any] = {
        "model": "Embedding → Attention() → GlobalAveragePooling1D → Dense(1, sigmoid)",
        "corpus": corpus,
        "corpus_checksum": corpus_checksum,
        "split": {"seed": data.SPLIT_SEED, **split.sizes()},
        "config": asdict(config.model),
        "training": {key: value for key, value in asdict(config).items() if key != "model"},
        "vocabulary_size": int(keras_model.get_layer("vectorize").vocabulary_size()),
        "validation_accuracy": validation_accuracy,
        "test_accuracy": test_accuracy,
        "confusion_matrix": {  # rows: true label, columns: predicted label; 0 = negative, 1 = positive
            "labels": ["negative", "positive"],
            "matrix": [[int(((labels == t) & (predictions == p)).sum()) for p in (0, 1)] for t in (0, 1)],
        },
        "curves": curves,
        "training_seconds": round(seconds, 1),
        "versions": library_versions(),
        "date": _datetime.datetime.now(_datetime.UTC).isoformat(timespec="seconds"),
    }
    if include_baseline:
        metrics["baseline"] = baseline_report(split, config.model.language)
    return metrics


def run_training(output_directory: Path, config: TrainConfig = TrainConfig(), corpus: str = "en",
                 frame: pd.DataFrame | None = None, callbacks: list | None = None, verbose: int = 1,
                 include_baseline: bool = True) -> dict[str, Any]:
    """Train on ``corpus`` (or on ``frame`` with ``text``/``label`` columns), evaluate, save atomically.

    Returns the metrics written to ``metrics.json``. The previous model in ``output_directory`` stays
    intact if anything fails or the run is interrupted before the final rename.
    """
    started = time.perf_counter()
    if frame is None:
        frame = data.load_corpus(corpus)
        checksum = data.corpus_checksum(corpus)
    else:
        checksum = data.sha256_of(pd.util.hash_pandas_object(frame[["text", "label"]], index=False).values.tobytes())
    split = data.split_corpus(frame)
    keras_model, curves = train_model(split, config, callbacks=callbacks, verbose=verbose)
    metrics = build_metrics(keras_model, split, config, curves, corpus, checksum,
                            time.perf_counter() - started, include_baseline=include_baseline)
    save_model_directory(keras_model, metrics, Path(output_directory))
    return metrics


class TrainingLock:
    """At most one training per process: ``acquire()`` returns False instead of queueing work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        return self._lock.acquire(blocking=False)

    def release(self) -> None:
        self._lock.release()

    @property
    def busy(self) -> bool:
        return self._lock.locked()


TRAINING_LOCK = TrainingLock()


def progress_callback(on_epoch_end: Callable[[int, dict], None], should_stop: Callable[[], bool] = lambda: False):
    """A Keras callback that reports each epoch and stops training when ``should_stop()`` is True."""
    keras = _keras()

    class _Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            on_epoch_end(epoch + 1, dict(logs or {}))
            if should_stop():
                self.model.stop_training = True

    return _Progress()


# Defaults chosen on the validation split (see docs/training.md for the search); the test split played no part.
DEFAULT_CONFIGS: dict[str, TrainConfig] = {
    "en": TrainConfig(model=ModelConfig(language="en")),
}


def default_config(corpus: str) -> TrainConfig:
    return DEFAULT_CONFIGS.get(corpus, TrainConfig(model=ModelConfig(language=corpus)))
