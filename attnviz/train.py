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

from attnviz import data, model_card
from attnviz.errors import AttnvizError
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


STRATEGY_NAMES = ("default", "mirrored")


def distribution_strategy(name: str = "default"):
    """A ``tf.distribute`` strategy by name: "default" (one device, ``tf.distribute.get_strategy()``) or
    "mirrored" (``MirroredStrategy``: data-parallel over all local GPUs, or the CPU when there is none)."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}")


def train_model(split: data.CorpusSplit, config: TrainConfig = TrainConfig(),
                callbacks: list | None = None, verbose: int = 1, strategy=None):
    """Adapt the vocabulary on the training texts and fit the seed architecture.

    ``strategy`` is a ``tf.distribute.Strategy`` (None = the default single-device one); the model's
    variables and optimizer are created in its scope, so ``fit`` splits each batch across its replicas.
    Returns ``(keras_model, history)`` where ``history`` maps metric names to per-epoch lists.
    """
    keras = _keras()
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    vectorizer = make_vectorizer(config.model)
    vectorizer.adapt(tf.constant([str(text) for text in split.train["text"]]))
    with (strategy or tf.distribute.get_strategy()).scope():
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
                  corpus_checksum: str, seconds: float, test_probabilities: np.ndarray,
                  include_baseline: bool = True) -> dict[str, Any]:
    """The ``metrics.json`` content; ``test_probabilities`` (m,) are the model's outputs on ``split.test``."""
    validation_accuracy, _ = accuracy_of(keras_model, split.validation)
    labels = split.test["label"].to_numpy()
    test_accuracy = float(((test_probabilities >= 0.5).astype(int) == labels).mean())
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
            "matrix": model_card.confusion_matrix(labels, test_probabilities),
        },
        "curves": curves,
        "training_seconds": round(seconds, 1),
        "versions": library_versions(),
        "date": _datetime.datetime.now(_datetime.UTC).isoformat(timespec="seconds"),
    }
    if include_baseline:
        metrics["baseline"] = baseline_report(split, config.model.language)
    return metrics


def fit_and_measure(config: TrainConfig, *, corpus: str, corpus_name: str, frame: pd.DataFrame | None = None,
                    callbacks: list | None = None, verbose: int = 1, include_baseline: bool = True, strategy=None):
    """Load ``corpus`` (or take ``frame``), split, train and measure: the part every training shares.

    Returns ``(keras_model, metrics, split, test_probabilities)``; ``test_probabilities`` is (m,) over
    ``split.test``. Nothing is written.
    """
    started = time.perf_counter()
    if frame is None:
        frame = data.load_corpus(corpus)
        checksum = data.corpus_checksum(corpus)
    else:
        frame = frame[["text", "label"]].reset_index(drop=True)
        checksum = data.sha256_of(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    split = data.split_corpus(frame)
    keras_model, curves = train_model(split, config, callbacks=callbacks, verbose=verbose, strategy=strategy)
    seconds = time.perf_counter() - started
    _, test_probabilities = accuracy_of(keras_model, split.test)
    metrics = build_metrics(keras_model, split, config, curves, corpus_name, checksum, seconds,
                            test_probabilities, include_baseline=include_baseline)
    return keras_model, metrics, split, test_probabilities


def run_training(output_directory: Path, config: TrainConfig = TrainConfig(), corpus: str = "en",
                 frame: pd.DataFrame | None = None, callbacks: list | None = None, verbose: int = 1,
                 include_baseline: bool = True, strategy=None) -> dict[str, Any]:
    """Train on ``corpus`` (or on ``frame`` with ``text``/``label`` columns), evaluate, save atomically.

    ``strategy``: a ``tf.distribute.Strategy`` for ``train_model`` (None = default single device).

    Returns the metrics written to ``metrics.json``. The previous model in ``output_directory`` stays
    intact if anything fails or the run is interrupted before the final rename.
    """
    keras_model, metrics, _, _ = fit_and_measure(config, corpus=corpus, corpus_name=corpus, frame=frame,
                                                 callbacks=callbacks, verbose=verbose,
                                                 include_baseline=include_baseline, strategy=strategy)
    if strategy is not None:
        metrics["distribution_strategy"] = {"name": type(strategy).__name__,
                                            "replicas": int(strategy.num_replicas_in_sync)}
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
    "en": TrainConfig(model=ModelConfig(vocabulary_size=20000, embedding_dim=64, dropout=0.6, language="en"),
                      epochs=30, batch_size=64, learning_rate=1e-3, patience=3),
    # Chinese (one token per character, ~4,400 characters in the training split). Validation accuracy, seeds
    # 1234 / 7: dropout 0.3 → 0.796 / 0.797, dropout 0.5 → 0.800 / 0.800; d = 32 / 128, vocabulary 5,000 and
    # learning rate 1e-3 all gave 0.797-0.800 (single seed): the architecture, not these settings, is the limit.
    "zh": TrainConfig(model=ModelConfig(vocabulary_size=20000, embedding_dim=64, dropout=0.5, language="zh"),
                      epochs=30, batch_size=32, learning_rate=2e-3, patience=3),
}


def default_config(corpus: str) -> TrainConfig:
    return DEFAULT_CONFIGS.get(corpus, TrainConfig(model=ModelConfig(language=corpus)))


# ----- training from the browser (Train page) ------------------------------------------------------------
# Safe bounds for the Train page's widgets: (minimum, maximum). A run on the full English corpus with the
# largest values still finishes in minutes on two CPU cores.
BROWSER_VOCABULARY_SIZE = (100, 30_000)
BROWSER_EMBEDDING_DIM = (4, 128)
BROWSER_EPOCHS = (1, 30)
BROWSER_BATCH_SIZE = (8, 512)
BROWSER_LEARNING_RATE = (1e-4, 5e-2)
MAX_USER_MODELS = 50  # each model is a few MB; the browser must not be able to fill the disk


class TrainingBusyError(AttnvizError, RuntimeError):
    """Another training is running in this server process (one at a time, never queued)."""


class TooManyUserModelsError(AttnvizError, RuntimeError):
    """The user-model folder already holds ``MAX_USER_MODELS`` models."""


BUSY_MESSAGE = ("Another model is being trained on this server right now, and only one training runs at a time. "
                "Try again in a few minutes; exploring with the existing models keeps working meanwhile.")


def browser_training_config(*, vocabulary_size: int, embedding_dim: int, epochs: int, batch_size: int,
                            learning_rate: float, language: str = "en") -> TrainConfig:
    """A ``TrainConfig`` from the Train page's settings; ``ValueError`` (naming the bound) when out of bounds."""
    for label, value, (low, high) in (("vocabulary size", vocabulary_size, BROWSER_VOCABULARY_SIZE),
                                      ("embedding width", embedding_dim, BROWSER_EMBEDDING_DIM),
                                      ("epochs", epochs, BROWSER_EPOCHS),
                                      ("batch size", batch_size, BROWSER_BATCH_SIZE),
                                      ("learning rate", learning_rate, BROWSER_LEARNING_RATE)):
        if not low <= value <= high:
            raise ValueError(f"The {label} must be between {low:g} and {high:g}, got {value:g}.")
    return TrainConfig(model=ModelConfig(vocabulary_size=int(vocabulary_size), embedding_dim=int(embedding_dim),
                                         language=language),
                       epochs=int(epochs), batch_size=int(batch_size), learning_rate=float(learning_rate))


def user_model_directory_for(name: str) -> Path:
    """The directory a browser-trained model called ``name`` goes to, after validating the name.

    Raises ``uploads.ModelNameError`` for unsafe, bundled, reserved or already used names, or when the user
    model folder is configured to lie inside the bundled ``models/`` folder (the shipped models are read-only).
    """
    from attnviz import uploads
    from attnviz.model import BUNDLED_MODELS_DIRECTORY, bundled_model_names, user_model_names, user_models_directory

    existing = user_model_names()
    uploads.validate_model_name(name, existing_names=existing, bundled_names=bundled_model_names())
    if len(existing) >= MAX_USER_MODELS:
        raise TooManyUserModelsError(f"This server already keeps {len(existing)} trained models, the most it "
                                     "allows. Ask whoever runs it to delete some from the user-model folder.")
    root = user_models_directory()
    bundled_root = BUNDLED_MODELS_DIRECTORY.resolve()
    resolved_root = root.resolve()
    if resolved_root == bundled_root or bundled_root in resolved_root.parents:
        raise uploads.ModelNameError("The user-model folder is inside the shipped models folder; refusing to "
                                     "write there. Set ATTNVIZ_USER_MODELS_DIR to another folder.")
    directory = uploads.safe_directory_for(name, root)
    if directory.exists():  # e.g. a half-deleted folder without model.keras
        raise uploads.ModelNameError(f"A folder named `{name}` already exists among the trained models; choose "
                                     "another name.")
    return directory


def train_user_model(name: str, config: TrainConfig, *, corpus: str = "en", frame: pd.DataFrame | None = None,
                     upload_filename: str | None = None, callbacks: list | None = None,
                     include_baseline: bool = True, stopped_by_user: Callable[[], bool] = lambda: False
                     ) -> dict[str, Any]:
    """Train like ``run_training`` but into ``user_models_directory()/name`` (validated), with a model card.

    ``frame`` (validated ``text``/``label`` table) overrides ``corpus``. The model is written with the same
    atomic ``save_model_directory``; the bundled ``models/`` folder is never written. Returns the metrics.
    """
    from attnviz.model import user_models_directory

    directory = user_model_directory_for(name)
    corpus_name = corpus if frame is None else "upload"
    keras_model, metrics, split, test_probabilities = fit_and_measure(
        config, corpus=corpus, corpus_name=corpus_name, frame=frame, callbacks=callbacks, verbose=0,
        include_baseline=include_baseline)
    metrics["trained_in_browser"] = True
    metrics["stopped_by_user"] = bool(stopped_by_user())
    if frame is not None:
        metrics["upload"] = {"filename": Path(upload_filename or "upload.csv").name[:100],
                             "rows": sum(split.sizes().values())}
    source, licence = model_card.corpus_provenance(corpus_name, metrics)
    metrics["card"] = model_card.build_card(
        split, test_probabilities, source=source, licence=licence,
        vocabulary_size=metrics["vocabulary_size"], max_tokens=config.model.max_tokens).to_dict()
    if directory.parent != user_models_directory().resolve():  # defence in depth: never outside the folder
        raise RuntimeError(f"refusing to write {directory}")
    save_model_directory(keras_model, metrics, directory)
    return metrics


class TrainingJob:
    """One browser training running in a background thread, observed by the Train page on each rerun.

    Streamlit cannot run a button's code while the script that started a long training is still running, so
    training runs in a thread: the page keeps the job in ``st.session_state``, polls ``snapshot()`` and the
    Stop button calls ``request_stop()``, which sets a ``threading.Event`` the Keras callbacks check after
    every batch. Stopping ends training early (like early stopping: the best epoch's weights are kept), then
    the model is evaluated and saved as usual.
    """

    def __init__(self, name: str, config: TrainConfig, *, corpus: str = "en", frame: pd.DataFrame | None = None,
                 upload_filename: str | None = None, include_baseline: bool = True) -> None:
        self.name = name
        self.config = config
        self.corpus = corpus
        self._frame = frame
        self._upload_filename = upload_filename
        self._include_baseline = include_baseline
        self.stop_event = threading.Event()
        self._state_lock = threading.Lock()
        self._phase = "starting"      # starting → training → evaluating → done | failed
        self._epochs_completed = 0
        self._batches_done = 0
        self._batches_per_epoch = 0
        self._curves: dict[str, list[float]] = {}
        self._metrics: dict[str, Any] | None = None
        self._error: str | None = None
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name=f"attnviz-train-{name}", daemon=True)

    # ----- called from the training thread ------------------------------------------------------------
    def _record_epoch(self, epoch: int, logs: dict) -> None:
        with self._state_lock:
            self._epochs_completed = epoch
            self._batches_done = 0
            for key, value in logs.items():
                self._curves.setdefault(key, []).append(float(value))
            if self.stop_event.is_set() or epoch >= self.config.epochs:
                self._phase = "evaluating"

    def _batch_callback(self):
        keras = _keras()
        job = self

        class _BatchProgress(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                with job._state_lock:
                    job._batches_per_epoch = int(self.params.get("steps") or 0)
                    job._phase = "training"

            def on_train_batch_end(self, batch, logs=None):
                with job._state_lock:
                    job._batches_done = batch + 1
                if job.stop_event.is_set():  # stop within the epoch, not only at its end
                    self.model.stop_training = True

            def on_train_end(self, logs=None):
                with job._state_lock:
                    job._phase = "evaluating"

        return _BatchProgress()

    def _run(self) -> None:
        try:
            callbacks = [progress_callback(self._record_epoch, should_stop=self.stop_event.is_set),
                         self._batch_callback()]
            metrics = train_user_model(self.name, self.config, corpus=self.corpus, frame=self._frame,
                                       upload_filename=self._upload_filename, callbacks=callbacks,
                                       include_baseline=self._include_baseline,
                                       stopped_by_user=self.stop_event.is_set)
            with self._state_lock:
                self._metrics, self._phase = metrics, "done"
        except AttnvizError as error:
            with self._state_lock:
                self._error, self._phase = str(error), "failed"
        except Exception as error:  # shown to the user as a short message; details go to the server log
            import traceback

            traceback.print_exc()
            with self._state_lock:
                self._error = (f"Training failed ({type(error).__name__}). Nothing was saved; try smaller "
                               "settings or another file.")
                self._phase = "failed"
        finally:
            self._frame = None
            TRAINING_LOCK.release()

    # ----- called from the page -----------------------------------------------------------------------
    def request_stop(self) -> None:
        self.stop_event.set()

    @property
    def finished(self) -> bool:
        with self._state_lock:
            return self._phase in ("done", "failed")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (for tests and scripts); True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the job's progress: phase, epochs, batches, curves, metrics, error."""
        with self._state_lock:
            # Share of the planned work done: whole epochs plus the finished batches of the current one.
            epoch_share = self._batches_done / self._batches_per_epoch if self._batches_per_epoch else 0.0
            fraction = (1.0 if self._phase in ("evaluating", "done")
                        else min(1.0, (self._epochs_completed + epoch_share) / self.config.epochs))
            return {"name": self.name, "phase": self._phase, "fraction": fraction,
                    "epochs_completed": self._epochs_completed, "epochs": self.config.epochs,
                    "batches_done": self._batches_done, "batches_per_epoch": self._batches_per_epoch,
                    "curves": {key: list(values) for key, values in self._curves.items()},
                    "metrics": self._metrics, "error": self._error, "stop_requested": self.stop_event.is_set(),
                    "seconds": time.perf_counter() - self._started}


def start_training_job(name: str, config: TrainConfig, *, corpus: str = "en", frame: pd.DataFrame | None = None,
                       upload_filename: str | None = None, include_baseline: bool = True) -> TrainingJob:
    """Validate the name, take ``TRAINING_LOCK`` (without waiting) and start training in a background thread.

    Raises ``TrainingBusyError`` when another training holds the lock and ``uploads.ModelNameError`` for a bad
    name; in both cases nothing was started. The thread releases the lock when it ends, whatever happens.
    """
    if not TRAINING_LOCK.acquire():
        raise TrainingBusyError(BUSY_MESSAGE)
    try:
        user_model_directory_for(name)  # fail fast, in the page, on a bad or taken name
        job = TrainingJob(name, config, corpus=corpus, frame=frame, upload_filename=upload_filename,
                          include_baseline=include_baseline)
        job._thread.start()
    except BaseException:
        TRAINING_LOCK.release()
        raise
    return job
