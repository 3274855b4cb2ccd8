"""The seed architecture, its saved artifacts, and the attention probe behind ``analyze``.

    text ─► TextVectorization ─► Embedding(vocab, d, mask_zero) ─► Attention()([x, x]) ─►
        GlobalAveragePooling1D ─► Dense(1, sigmoid)

A model directory holds ``model.keras`` (the whole text-to-probability model, vocabulary included) and
``metrics.json`` (config, test accuracy, baseline, curves, provenance).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf

from attnviz import formula
from attnviz.analysis import Analysis, frozen_array
from attnviz.errors import EmptyInputError, ModelLoadError
from attnviz.text import clean_unicode, detect_language, standardize

MODEL_FILENAME = "model.keras"
METRICS_FILENAME = "metrics.json"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODELS_DIRECTORY = PACKAGE_ROOT / "models"
DEFAULT_MODEL_NAME = "en"
OOV_ID = 1  # TextVectorization: 0 = padding, 1 = "[UNK]"

# Layer names are part of the saved format: the probe finds the trained layers by these names.
VECTORIZER_LAYER = "vectorize"
EMBEDDING_LAYER = "embedding"
DROPOUT_LAYER = "embedding_dropout"
ATTENTION_LAYER = "attention"
POOLING_LAYER = "pooling"
CLASSIFIER_LAYER = "classifier"


@dataclass(frozen=True)
class ModelConfig:
    """Architecture settings; stored in ``metrics.json`` under ``config``."""

    vocabulary_size: int = 20000   # TextVectorization max_tokens (includes padding and [UNK])
    embedding_dim: int = 64        # d, the width of x_i (the seed uses 64)
    dropout: float = 0.3           # on embeddings, training only: identity at inference
    max_tokens: int = 256          # analyze() truncates longer texts to this many tokens
    language: str = "en"

    def __post_init__(self) -> None:
        if self.vocabulary_size < 3:
            raise ValueError(f"vocabulary_size must be ≥ 3 (padding, [UNK], one word), got {self.vocabulary_size}")
        if self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be ≥ 1, got {self.embedding_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be ≥ 1, got {self.max_tokens}")


def build_keras_model(config: ModelConfig, vectorizer: keras.layers.TextVectorization) -> keras.Model:
    """The seed architecture as one Keras Functional model from a string to P(positive).

    ``vectorizer`` must already be adapted (its vocabulary decides the ids).
    """
    vocabulary_size = vectorizer.vocabulary_size()
    text_input = keras.Input(shape=(1,), dtype="string", name="text")
    token_ids = vectorizer(text_input)                                       # (batch, n)
    embeddings = keras.layers.Embedding(vocabulary_size, config.embedding_dim, mask_zero=True,
                                        name=EMBEDDING_LAYER)(token_ids)    # (batch, n, d)
    embeddings = keras.layers.Dropout(config.dropout, name=DROPOUT_LAYER)(embeddings)
    attended = keras.layers.Attention(name=ATTENTION_LAYER)([embeddings, embeddings])  # (batch, n, d)
    pooled = keras.layers.GlobalAveragePooling1D(name=POOLING_LAYER)(attended)        # (batch, d)
    probability = keras.layers.Dense(1, activation="sigmoid", name=CLASSIFIER_LAYER)(pooled)  # (batch, 1)
    return keras.Model(text_input, probability, name="attention_classifier")


def make_vectorizer(config: ModelConfig) -> keras.layers.TextVectorization:
    return keras.layers.TextVectorization(max_tokens=config.vocabulary_size, standardize=standardize,
                                          split="whitespace", output_mode="int", name=VECTORIZER_LAYER)


class AttentionModel:
    """A trained model plus a fast, thread-safe probe that returns everything ``Analysis`` needs.

    The probe calls the trained Keras layers once per text inside a traced ``tf.function`` (no
    ``predict``), so attention, logit and probability are what the model computes, not a re-implementation.
    """

    def __init__(self, keras_model: keras.Model, metrics: dict[str, Any], name: str,
                 path: Path | None = None, cache_size: int = 512) -> None:
        self.keras_model = keras_model
        self.metrics = metrics
        self.name = name
        self.path = path
        self.config = ModelConfig(**{key: value for key, value in metrics.get("config", {}).items()
                                     if key in ModelConfig.__dataclass_fields__})
        self.max_tokens = self.config.max_tokens
        try:
            self._vectorizer = keras_model.get_layer(VECTORIZER_LAYER)
            self._embedding = keras_model.get_layer(EMBEDDING_LAYER)
            self._attention = keras_model.get_layer(ATTENTION_LAYER)
            self._pooling = keras_model.get_layer(POOLING_LAYER)
            self._classifier = keras_model.get_layer(CLASSIFIER_LAYER)
        except ValueError as error:
            raise ModelLoadError(f"The model {name!r} does not have the attnviz layers: {error}") from error
        self.vocabulary: list[str] = list(self._vectorizer.get_vocabulary())
        self.classifier_weights = frozen_array(self._classifier.kernel.numpy()[:, 0], dtype=np.float64)  # (d,)
        self.bias = float(self._classifier.bias.numpy()[0])
        self._cache: OrderedDict[str, Analysis] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self._tokenize_function = self._trace_tokenizer()
        self._probe_function = self._trace_probe()
        self.analyze("warm up")  # trace both graphs now, not during the first user request
        self.clear_cache()

    # ----- traced graphs -------------------------------------------------------------------------------
    def _trace_tokenizer(self):
        vectorizer = self._vectorizer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], reduce_retracing=True)
        def tokenize(texts):
            tokens = tf.strings.split(standardize(texts))       # ragged (batch, n)
            token_ids = vectorizer(texts)                         # dense (batch, n_max), 0-padded
            return tokens.to_tensor(""), token_ids

        return tokenize.get_concrete_function()

    def _trace_probe(self):
        embedding, attention, pooling, classifier = (self._embedding, self._attention, self._pooling,
                                                     self._classifier)

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64)])
        def probe(token_ids):                                     # (batch, n), 0 = padding
            embeddings = embedding(token_ids)                     # (batch, n, d)
            mask = embedding.compute_mask(token_ids)              # (batch, n)
            attended, weights = attention([embeddings, embeddings], mask=[mask, mask],
                                          return_attention_scores=True, training=False)
            pooled = pooling(attended, mask=mask)                 # (batch, d)
            probability = classifier(pooled)                      # (batch, 1)
            logit = tf.matmul(pooled, classifier.kernel) + classifier.bias  # (batch, 1) before the sigmoid
            scores = tf.matmul(embeddings, embeddings, transpose_b=True)    # (batch, n, n)
            return {"embeddings": embeddings, "scores": scores, "attention": weights,
                    "attention_output": attended, "pooled": pooled, "logit": logit[:, 0],
                    "probability": probability[:, 0]}

        return probe.get_concrete_function()

    # ----- public API ----------------------------------------------------------------------------------
    def tokenize(self, text: str) -> tuple[list[str], np.ndarray]:
        """Tokens and ids of ``text`` as the model reads them, before truncation: (n_input,), (n_input,)."""
        (tokens,), (ids,) = self.tokenize_many([text])
        return tokens, ids

    def tokenize_many(self, texts: list[str]) -> tuple[list[list[str]], list[np.ndarray]]:
        cleaned = tf.constant([clean_unicode(text) for text in texts], dtype=tf.string)
        token_matrix, id_matrix = self._tokenize_function(cleaned)
        token_lists, id_lists = [], []
        for token_row, id_row in zip(token_matrix.numpy(), id_matrix.numpy()):
            tokens = [token.decode("utf-8") for token in token_row if token]
            token_lists.append(tokens)
            id_lists.append(id_row[: len(tokens)].astype(np.int64))
        return token_lists, id_lists

    def analyze(self, text: str) -> Analysis:
        """Analyse one text (cached, thread-safe). Raises ``EmptyInputError`` when it has no tokens."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        with self._cache_lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                return cached
        (result,) = self.analyze_many([text])
        return result

    def analyze_many(self, texts: Iterable[str], batch_size: int = 64, cache: bool = True) -> list[Analysis]:
        """Analyse many texts with batched model calls (padded batches; padding is masked).

        ``cache=False`` keeps the results out of the shared cache: a batch of thousands of texts would
        otherwise push every interactive sentence out of it and hold ~1 MB per long text.
        Raises ``EmptyInputError`` naming the first text without tokens.
        """
        texts = list(texts)
        results: list[Analysis] = []
        for start in range(0, len(texts), batch_size):
            results.extend(self._analyze_batch(texts[start:start + batch_size]))
        if not cache:
            return results
        with self._cache_lock:
            for text, result in zip(texts, results):
                self._cache[text] = result
                self._cache.move_to_end(text)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return results

    def _analyze_batch(self, texts: list[str]) -> list[Analysis]:
        token_lists, id_lists = self.tokenize_many(texts)
        for position, tokens in enumerate(token_lists):
            if not tokens:
                raise EmptyInputError(
                    "The text has no words the model can read: it is empty or contains only punctuation, "
                    "symbols or emoji." + (f" (input {position + 1} of {len(texts)})" if len(texts) > 1 else ""))
        lengths = [min(len(tokens), self.max_tokens) for tokens in token_lists]
        padded = np.zeros((len(texts), max(lengths)), dtype=np.int64)       # (batch, n_max)
        for row, (ids, length) in enumerate(zip(id_lists, lengths)):
            padded[row, :length] = ids[:length]
        outputs = {key: value.numpy() for key, value in self._probe_function(tf.constant(padded)).items()}
        return [self._make_analysis(text, tokens, ids, length, outputs, row)
                for row, (text, tokens, ids, length) in enumerate(zip(texts, token_lists, id_lists, lengths))]

    def _make_analysis(self, text: str, tokens: list[str], ids: np.ndarray, length: int,
                       outputs: dict[str, np.ndarray], row: int) -> Analysis:
        embeddings = outputs["embeddings"][row, :length].astype(np.float64)       # (n, d)
        attention = outputs["attention"][row, :length, :length].astype(np.float64)  # (n, n)
        received = formula.received_attention(attention)
        per_token_logits = formula.token_logits(embeddings, self.classifier_weights)
        return Analysis(
            text=text, model_name=self.name, tokens=list(tokens[:length]),
            token_ids=frozen_array(ids[:length], dtype=np.int64),
            oov=frozen_array(ids[:length] == OOV_ID, dtype=bool),
            embeddings=frozen_array(embeddings),
            scores=frozen_array(outputs["scores"][row, :length, :length], dtype=np.float64),
            attention=frozen_array(attention),
            attention_output=frozen_array(outputs["attention_output"][row, :length], dtype=np.float64),
            pooled=frozen_array(outputs["pooled"][row], dtype=np.float64),
            received=frozen_array(received),
            token_logits=frozen_array(per_token_logits),
            contributions=frozen_array(formula.logit_contributions(received, per_token_logits)),
            classifier_weights=self.classifier_weights, bias=self.bias,
            logit=float(outputs["logit"][row]), probability=float(outputs["probability"][row]),
            truncated=len(tokens) > length, n_input_tokens=len(tokens),
        )

    def predict_proba(self, texts: Iterable[str], batch_size: int = 256) -> np.ndarray:
        """(m,) P(positive) for many texts through the full Keras model (empty texts give NaN)."""
        texts = [clean_unicode(text) for text in texts]
        if not texts:
            return np.zeros(0)
        probabilities = self.keras_model.predict(tf.constant(texts)[:, None], batch_size=batch_size, verbose=0)
        return probabilities[:, 0].astype(np.float64)

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def __repr__(self) -> str:
        return (f"AttentionModel(name={self.name!r}, vocabulary={len(self.vocabulary)}, "
                f"d={self.config.embedding_dim}, path={str(self.path)!r})")


# ----- saving and loading ------------------------------------------------------------------------------
def save_model_directory(keras_model: keras.Model, metrics: dict[str, Any], directory: Path) -> None:
    """Write ``model.keras`` and ``metrics.json`` atomically: into a temporary sibling, then rename.

    If anything fails before the final rename, the previous contents of ``directory`` are untouched.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = directory.parent / f".{directory.name}.tmp-{os.getpid()}-{threading.get_ident()}"
    backup = directory.parent / f".{directory.name}.old-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    try:
        # Save an uncompiled view of the same layers: the optimizer state would triple the file size and
        # is not needed to analyse text.
        inference_model = keras.Model(keras_model.inputs, keras_model.outputs, name=keras_model.name)
        inference_model.save(temporary / MODEL_FILENAME)
        (temporary / METRICS_FILENAME).write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n",
                                                 encoding="utf-8")
        load_keras_model(temporary)  # refuse to install a model that does not load back
        if directory.exists():
            os.replace(directory, backup)
        os.replace(temporary, directory)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        if backup.exists() and not directory.exists():
            os.replace(backup, directory)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def load_keras_model(directory: Path) -> keras.Model:
    path = Path(directory) / MODEL_FILENAME
    if not path.is_file():
        raise ModelLoadError(f"No {MODEL_FILENAME} in {directory}. Restore it with `git checkout -- models/` "
                             "or retrain with `python -m attnviz train`.")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # a corrupted zip, a wrong format, a missing custom object...
        raise ModelLoadError(f"{path} could not be loaded ({type(error).__name__}: {error}). Restore it with "
                             "`git checkout -- models/` or retrain with `python -m attnviz train`.") from error


def read_metrics(directory: Path) -> dict[str, Any]:
    path = Path(directory) / METRICS_FILENAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ModelLoadError(f"No {METRICS_FILENAME} in {directory}; the model directory is incomplete. "
                             "Retrain with `python -m attnviz train`.") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{path} is not valid JSON ({error}). Restore it with `git checkout -- models/` "
                             "or retrain with `python -m attnviz train`.") from error


def user_models_directory() -> Path:
    """Where models trained in the browser are saved: ``$ATTNVIZ_USER_MODELS_DIR`` or ``user_models/``."""
    return Path(os.environ.get("ATTNVIZ_USER_MODELS_DIR") or PACKAGE_ROOT / "user_models")


def resolve_model_directory(name_or_path: str | os.PathLike | None) -> tuple[str, Path]:
    """Map ``None`` / a bundled or user model name / a directory path to ``(name, directory)``.

    Bundled models (``models/NAME``) win over user models (``user_models/NAME``) of the same name, so the
    shipped default can never be shadowed from the browser.
    """
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL_NAME
    candidate = Path(name_or_path)
    if isinstance(name_or_path, str) and candidate.name == name_or_path:
        for root in (BUNDLED_MODELS_DIRECTORY, user_models_directory()):
            if (root / name_or_path).is_dir():
                return name_or_path, root / name_or_path
    if candidate.is_dir():
        return candidate.name, candidate
    raise ModelLoadError(f"No model named {str(name_or_path)!r}: it is neither a bundled model "
                         f"({', '.join(bundled_model_names()) or 'none'}), a user model, nor a directory.")


def bundled_model_names() -> list[str]:
    return _model_names_in(BUNDLED_MODELS_DIRECTORY)


def user_model_names() -> list[str]:
    return _model_names_in(user_models_directory())


def _model_names_in(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and (p / MODEL_FILENAME).is_file())


_loaded_models: dict[Path, AttentionModel] = {}
_loading_lock = threading.Lock()


AUTO_MODEL_NAME = "auto"  # reserved: load_model(None) / load_model("auto") route each text by its script
ROUTABLE_LANGUAGES = ("en", "zh")  # what attnviz.text.detect_language can answer


class AutoModel:
    """Analyses each text with the bundled model of its script: mostly Chinese characters → ``zh``, else ``en``.

    It has the same ``analyze`` / ``analyze_many`` / ``tokenize`` / ``predict_proba`` surface as
    ``AttentionModel``; ``Analysis.model_name`` says which model answered. A language without a bundled model
    falls back to the default (English) model. Attributes that describe one model (``metrics``,
    ``vocabulary``, ``keras_model``, ``config``…) describe the default model, so code written for a single
    model keeps working; ``models_by_language()`` gives all of them.
    """

    name = AUTO_MODEL_NAME

    def __init__(self, default_language: str = DEFAULT_MODEL_NAME) -> None:
        self.default_language = default_language
        self.default_model = load_model(default_language)  # loaded now: nearly every session needs it
        # Listed once: language_of runs on every analyze call and must not touch the disk.
        self.languages: tuple[str, ...] = tuple(name for name in bundled_model_names() if name == default_language
                                                or name in ROUTABLE_LANGUAGES)

    # ----- routing -------------------------------------------------------------------------------------
    def language_of(self, text: str) -> str:
        """The language whose model reads ``text``: ``detect_language(text)`` if that model is bundled."""
        language = detect_language(text) if isinstance(text, str) else self.default_language
        return language if language in self.languages else self.default_language

    def model_for(self, text: str) -> AttentionModel:
        """The model that analyses ``text`` (loaded on first use, then shared)."""
        return load_model(self.language_of(text))

    def _positions_by_language(self, texts: list[str]) -> dict[str, list[int]]:
        """Which positions of ``texts`` each model reads, so every model gets one batched call."""
        positions_by_language: dict[str, list[int]] = {}
        for position, text in enumerate(texts):
            positions_by_language.setdefault(self.language_of(text), []).append(position)
        return positions_by_language

    def models_by_language(self) -> dict[str, AttentionModel]:
        """Every bundled model this router can choose, loading the ones not loaded yet."""
        return {language: load_model(language) for language in self.languages}

    # ----- the AttentionModel surface ------------------------------------------------------------------
    def analyze(self, text: str) -> Analysis:
        """Analyse ``text`` with the model of its script. Raises ``EmptyInputError`` when it has no tokens."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return self.model_for(text).analyze(text)

    def analyze_many(self, texts: Iterable[str], batch_size: int = 64, cache: bool = True) -> list[Analysis]:
        """Analyse many texts, each with the model of its script; results keep the input order."""
        texts = list(texts)
        results: list[Analysis | None] = [None] * len(texts)
        for language, positions in self._positions_by_language(texts).items():
            analyses = load_model(language).analyze_many([texts[p] for p in positions], batch_size=batch_size,
                                                           cache=cache)
            for position, analysis in zip(positions, analyses):
                results[position] = analysis
        return results  # type: ignore[return-value]  # every position was filled above

    def tokenize(self, text: str) -> tuple[list[str], np.ndarray]:
        """Tokens and ids of ``text`` as the model of its script reads them: (n_input,), (n_input,)."""
        return self.model_for(text).tokenize(text)

    def predict_proba(self, texts: Iterable[str], batch_size: int = 256) -> np.ndarray:
        """(m,) P(positive), each text by the model of its script."""
        texts = list(texts)
        probabilities = np.zeros(len(texts))
        for language, positions in self._positions_by_language(texts).items():
            probabilities[positions] = load_model(language).predict_proba([texts[p] for p in positions],
                                                                          batch_size=batch_size)
        return probabilities

    def clear_cache(self) -> None:
        for model in list(_loaded_models.values()):
            model.clear_cache()

    # Describe the default model (see the class docstring).
    @property
    def metrics(self) -> dict[str, Any]:
        return self.default_model.metrics

    @property
    def max_tokens(self) -> int:
        return self.default_model.max_tokens

    @property
    def vocabulary(self) -> list[str]:
        return self.default_model.vocabulary

    @property
    def config(self) -> ModelConfig:
        """The default model's architecture, with ``language="auto"`` (pages pick presets by language)."""
        return replace(self.default_model.config, language=AUTO_MODEL_NAME)

    @property
    def keras_model(self) -> keras.Model:
        return self.default_model.keras_model

    @property
    def path(self) -> Path | None:
        return self.default_model.path

    def __repr__(self) -> str:
        return f"AutoModel(languages={list(self.languages)}, default={self.default_language!r})"


_auto_model: AutoModel | None = None


def load_model(name_or_path: str | os.PathLike | None = None) -> AttentionModel | AutoModel:
    """Load a model once per process.

    ``None`` or ``"auto"``: an ``AutoModel`` that picks the bundled model by each text's script.
    A bundled or user model name (``"en"``, ``"zh"``) or a model directory: that ``AttentionModel``.
    """
    global _auto_model
    if name_or_path is None or name_or_path == AUTO_MODEL_NAME:
        with _loading_lock:
            existing = _auto_model
        if existing is None:
            created = AutoModel()  # outside the lock: AutoModel() calls load_model itself
            with _loading_lock:
                if _auto_model is None:
                    _auto_model = created
                existing = _auto_model
        return existing
    name, directory = resolve_model_directory(name_or_path)
    key = directory.resolve()
    with _loading_lock:
        if key not in _loaded_models:
            metrics = read_metrics(directory)
            _loaded_models[key] = AttentionModel(load_keras_model(directory), metrics, name=name, path=directory)
        return _loaded_models[key]

