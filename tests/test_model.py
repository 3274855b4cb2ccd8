"""The trained model, the attention probe and every Analysis invariant."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attnviz
from attnviz import formula
from attnviz.errors import EmptyInputError, ModelLoadError
from attnviz.model import OOV_ID, load_model, save_model_directory

TOLERANCE = 1e-5
SENTENCES = [
    "A gorgeous, witty film that never feels long.",
    "not bad at all",
    "The plot is a mess and the acting is worse.",
    "film film film",
    "Good good bad good",
    "zzyzx qwertyuiop flibbertigibbet",
]


def assert_analysis_invariants(result: attnviz.Analysis) -> None:
    n, d = result.embeddings.shape
    assert len(result.tokens) == n == result.n_tokens
    assert result.token_ids.shape == result.oov.shape == result.received.shape == (n,)
    assert result.scores.shape == result.attention.shape == (n, n)
    assert result.attention_output.shape == (n, d) and result.pooled.shape == (d,)
    assert np.all(np.isfinite(result.attention)) and np.all(result.attention >= 0)
    np.testing.assert_allclose(result.attention.sum(axis=1), 1.0, atol=TOLERANCE)
    np.testing.assert_allclose(result.received, result.attention.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(result.contributions, result.received * result.token_logits, atol=1e-12)
    assert result.bias + result.contributions.sum() == pytest.approx(result.logit, abs=TOLERANCE)
    assert formula.sigmoid(result.logit) == pytest.approx(result.probability, abs=TOLERANCE)
    assert result.label == ("positive" if result.probability >= 0.5 else "negative")
    np.testing.assert_array_equal(result.oov, result.token_ids == OOV_ID)


@pytest.mark.parametrize("sentence", SENTENCES)
def test_analysis_invariants(model, sentence):
    assert_analysis_invariants(model.analyze(sentence))


def test_probability_is_the_full_keras_model_output(model):
    analyses = model.analyze_many(SENTENCES)
    full_model = model.predict_proba(SENTENCES)
    np.testing.assert_allclose([a.probability for a in analyses], full_model, atol=TOLERANCE)


def test_numpy_formula_matches_keras_on_200_test_sentences(model, english_split):
    texts = english_split.test["text"].tolist()[:200]
    worst = {}
    for result in model.analyze_many(texts):
        steps = formula.compute_steps(result.embeddings, result.classifier_weights, result.bias)
        for name, difference in formula.max_abs_differences(steps, result).items():
            worst[name] = max(worst.get(name, 0.0), difference)
        np.testing.assert_allclose(steps.pooled_from_received, steps.pooled, atol=1e-9)
    # scores are dot products of 64 float32 products: compare relative to their size
    assert worst["attention"] <= TOLERANCE and worst["logit"] <= TOLERANCE and worst["probability"] <= TOLERANCE
    assert worst["pooled"] <= TOLERANCE and worst["attention_output"] <= TOLERANCE
    assert worst["scores"] <= 1e-4


def test_repeated_words_stay_separate_positions(model):
    result = model.analyze("film film film good film")
    assert result.tokens == ["film", "film", "film", "good", "film"]
    assert result.attention.shape == (5, 5)
    assert len(set(result.token_labels)) == 5


def test_unknown_words_are_marked(model):
    result = model.analyze("the zzyzxqwv film")
    assert result.oov.tolist() == [False, True, False]
    assert model.vocabulary[result.token_ids[0]] == "the"
    assert not result.all_unknown
    assert model.analyze("zzyzxqwv qqqxxyyz").all_unknown


def test_tokens_are_standardised_like_the_model_sees_them(model):
    result = model.analyze("Don't <b>STOP</b> — it's GREAT!!")
    assert result.tokens == ["dont", "b", "stop", "b", "its", "great"]
    assert [model.vocabulary[i] if i != OOV_ID else t for i, t in zip(result.token_ids, result.tokens)] \
        == result.tokens


def test_padding_invariance(model):
    texts = ["good", "a long and rather boring film about nothing in particular at all", "not bad at all"]
    model.clear_cache()
    batched = model.analyze_many(texts)
    model.clear_cache()
    for text, from_batch in zip(texts, batched):
        single = model.analyze(text)
        np.testing.assert_allclose(from_batch.attention, single.attention, atol=1e-6)
        assert from_batch.probability == pytest.approx(single.probability, abs=1e-6)


@pytest.mark.parametrize("text", ["", "   \n\t ", "!!! ... ?!", "😀🎬👍", "— « » ¿¡", "\x00\x01\x85"])
def test_text_without_tokens_raises_a_clear_error(model, text):
    with pytest.raises(EmptyInputError, match="no words the model can read"):
        model.analyze(text)


def test_long_text_is_truncated_and_says_so(model):
    result = model.analyze(" ".join(["great"] * 10_000))
    assert result.truncated and result.n_input_tokens == 10_000 and result.n_tokens == model.max_tokens
    assert_analysis_invariants(result)
    short = model.analyze("great film")
    assert not short.truncated and short.n_input_tokens == 2


@pytest.mark.parametrize("text", [
    "I ❤️ this film 😀", "这部电影太好看了", "הסרט הזה נהדר", "فيلم رائع", "film\u200bnoir\u202e evil",
    "x" * 100_000, "\ud800 lone surrogate", "Ünïcödé çafé naïve",
])
def test_any_unicode_does_not_crash(model, text):
    result = model.analyze(text)
    assert_analysis_invariants(result)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_arbitrary_unicode_gives_an_analysis_or_a_clear_error(model, text):
    try:
        result = model.analyze(text)
    except EmptyInputError:
        return
    assert_analysis_invariants(result)


def test_concurrent_calls_match_sequential_calls(model, english_split):
    texts = english_split.validation["text"].tolist()[:64]
    model.clear_cache()
    sequential = [model.analyze(text).probability for text in texts]
    model.clear_cache()
    barrier = threading.Barrier(8)

    def work(chunk):
        barrier.wait()
        return [model.analyze(text).probability for text in chunk]

    with ThreadPoolExecutor(max_workers=8) as pool:
        chunks = [texts[k::8] for k in range(8)]
        results = list(pool.map(work, chunks))
    concurrent = {text: p for chunk, probabilities in zip(chunks, results) for text, p in zip(chunk, probabilities)}
    assert [concurrent[text] for text in texts] == pytest.approx(sequential, abs=1e-7)


def test_analysis_is_read_only_and_serialisable(model):
    result = model.analyze("a fine film")
    with pytest.raises(ValueError):
        result.attention[0, 0] = 0.5
    payload = json.loads(result.to_json())
    for key in ("tokens", "token_ids", "oov", "embeddings", "scores", "attention", "received", "token_logits",
                "contributions", "bias", "logit", "probability", "label", "truncated", "n_input_tokens"):
        assert key in payload
    np.testing.assert_allclose(np.array(payload["attention"]), result.attention)


def test_save_load_round_trip(model, tmp_path):
    directory = tmp_path / "copy"
    save_model_directory(model.keras_model, model.metrics, directory)
    reloaded = load_model(directory)
    assert reloaded is not model and reloaded.vocabulary == model.vocabulary
    for sentence in SENTENCES:
        original, again = model.analyze(sentence), reloaded.analyze(sentence)
        np.testing.assert_array_equal(original.attention, again.attention)
        assert original.probability == again.probability


def test_failed_save_keeps_the_previous_model(model, tmp_path, monkeypatch):
    directory = tmp_path / "kept"
    save_model_directory(model.keras_model, model.metrics, directory)
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    broken_metrics = {"not serialisable": object()}
    with pytest.raises(TypeError):
        save_model_directory(model.keras_model, broken_metrics, directory)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary directory left behind"


def test_missing_or_corrupted_model_gives_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="No model named"):
        load_model("no-such-model-anywhere")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metrics.json").write_text("{}")
    (broken / "model.keras").write_bytes(b"this is not a zip file")
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        load_model(broken)


def test_shipped_model_metrics_record_provenance(model):
    metrics = model.metrics
    for key in ("test_accuracy", "baseline", "curves", "corpus_checksum", "config", "versions", "date"):
        assert key in metrics
    assert metrics["config"]["embedding_dim"] == model.analyze("good").embeddings.shape[1]


def test_analyze_many_without_cache_leaves_the_shared_cache_alone(model):
    model.clear_cache()
    texts = [f"a film number {k}" for k in range(20)]
    uncached = model.analyze_many(texts, cache=False)
    assert len(model._cache) == 0
    cached = model.analyze_many(texts)
    assert len(model._cache) == 20
    assert [a.probability for a in uncached] == pytest.approx([a.probability for a in cached], abs=1e-7)
