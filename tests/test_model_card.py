"""Model card numbers: small exact cases, then the shipped model's card against metrics.json and a fresh
evaluation with ``train.accuracy_of`` on the test split."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

from attnviz import model_card, train
from attnviz.data import CorpusSplit


def test_class_counts_and_bad_labels():
    assert model_card.class_counts(np.array([0, 1, 1, 1])) == {"negative": 1, "positive": 3}
    with pytest.raises(ValueError, match=r"labels must be 0 or 1, found \[2\]"):
        model_card.class_counts(np.array([0, 2]))


def test_length_histogram_bins():
    edges, counts = model_card.length_histogram(np.array([0, 1, 4, 5, 9, 10]), bin_width=5)
    assert edges == [0, 5, 10, 15]
    assert counts == [3, 2, 1]
    assert sum(counts) == 6
    with pytest.raises(ValueError):
        model_card.length_histogram(np.array([1]), bin_width=0)


def test_confusion_matrix_rows_true_columns_predicted():
    labels = np.array([0, 0, 1, 1, 1])
    probabilities = np.array([0.1, 0.7, 0.2, 0.5, 0.9])  # 0.5 counts as positive
    assert model_card.confusion_matrix(labels, probabilities) == [[1, 1], [1, 2]]
    assert model_card.accuracy_from_matrix([[1, 1], [1, 2]]) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match=r"labels has shape \(5,\) but probabilities has shape \(2,\)"):
        model_card.confusion_matrix(labels, probabilities[:2])


def test_reliability_bins_and_calibration_error():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([0.05, 0.15, 0.85, 1.0])  # 1.0 belongs to the last bin
    result = model_card.reliability(labels, probabilities, n_bins=10)
    assert result.count == [1, 1, 0, 0, 0, 0, 0, 0, 1, 1]
    assert sum(result.count) == 4
    assert result.mean_probability[0] == pytest.approx(0.05) and result.fraction_positive[0] == 0.0
    assert result.mean_probability[2] is None and result.fraction_positive[2] is None
    expected = (0.05 + 0.15 + 0.15 + 0.0) / 4
    assert result.expected_calibration_error == pytest.approx(expected)
    assert result.lower[0] == 0.0 and result.upper[-1] == 1.0


def test_perfectly_calibrated_bins_have_zero_error():
    rng = np.random.default_rng(0)
    probabilities = np.repeat([0.25, 0.75], 400)
    labels = np.concatenate([np.repeat([1, 0, 0, 0], 100), np.repeat([1, 1, 1, 0], 100)])
    rng.shuffle(labels[:400])
    assert model_card.reliability(labels, probabilities).expected_calibration_error == pytest.approx(0.0)


def test_most_confidently_wrong_order_and_content():
    texts = ["right", "slightly wrong", "very wrong", "wrong negative"]
    labels = np.array([1, 1, 0, 1])
    probabilities = np.array([0.9, 0.45, 0.99, 0.02])
    wrong = model_card.most_confidently_wrong(texts, labels, probabilities, limit=2)
    assert [entry["text"] for entry in wrong] == ["very wrong", "wrong negative"]
    assert wrong[0]["confidence"] == pytest.approx(0.99) and wrong[1]["confidence"] == pytest.approx(0.98)
    assert all(entry["label"] != int(entry["probability"] >= 0.5) for entry in wrong)


def test_explore_url_is_percent_encoded():
    url = model_card.explore_url("a [link](javascript:x) & <b>é</b>", "mine")
    assert url.startswith("./?text=")
    assert not any(character in url.split("?", 1)[1] for character in "[]() <>")
    parsed = parse_qs(urlparse(url).query)
    assert parsed == {"text": ["a [link](javascript:x) & <b>é</b>"], "model": ["mine"]}
    assert "model=" not in model_card.explore_url("x", "en")


def test_build_card_on_a_small_split_round_trips_through_json():
    def frame(texts, labels):
        return pd.DataFrame({"text": texts, "label": labels})

    split = CorpusSplit(train=frame(["good film", "bad film", "fine"], [1, 0, 1]),
                        validation=frame(["ok"], [1]),
                        test=frame(["great great", "awful", "meh, really"], [1, 0, 0]))
    card = model_card.build_card(split, np.array([0.9, 0.6, 0.2]), source="toy", licence="none",
                                 vocabulary_size=10, max_tokens=1)
    assert card.n_examples == 7
    assert card.class_counts == {"negative": 3, "positive": 4}
    assert card.split_sizes == {"train": 3, "validation": 1, "test": 3}
    assert card.confusion_matrix == [[1, 1], [0, 1]]
    assert card.test_accuracy == pytest.approx(2 / 3)
    assert card.token_length_max == 2 and sum(card.token_length_counts) == 7
    assert card.fraction_truncated == pytest.approx(4 / 7)  # "good film", "bad film", "great great", "meh really"
    assert [entry["text"] for entry in card.wrong_examples] == ["awful"]
    import json

    assert model_card.ModelCard.from_dict(json.loads(json.dumps(card.to_dict()))) == card
    with pytest.raises(ValueError, match="test_probabilities has 2 entries but the test split has 3 rows"):
        model_card.build_card(split, np.array([0.1, 0.2]), source="", licence="", vocabulary_size=1, max_tokens=1)


def test_token_lengths_match_the_model_tokeniser(model, english_split):
    texts = [*english_split.test["text"].head(200).tolist(), "Don't stop — 好看！", "", "!!!"]
    token_lists, _ = model.tokenize_many(texts)
    np.testing.assert_array_equal(model_card.token_lengths(texts), [len(tokens) for tokens in token_lists])


@pytest.fixture(scope="module")
def shipped_card(model, english_split):
    return model_card.card_for_model(model, english_split)


def test_shipped_card_equals_metrics_json_and_a_fresh_evaluation(model, english_split, shipped_card):
    metrics = model.metrics
    fresh_accuracy, fresh_probabilities = train.accuracy_of(model.keras_model, english_split.test)
    assert shipped_card.test_accuracy == pytest.approx(fresh_accuracy, abs=1e-12)
    assert shipped_card.test_accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    assert shipped_card.confusion_matrix == metrics["confusion_matrix"]["matrix"]
    assert shipped_card.confusion_matrix == model_card.confusion_matrix(english_split.test["label"].to_numpy(),
                                                                        fresh_probabilities)
    assert shipped_card.vocabulary_size == metrics["vocabulary_size"] == len(model.vocabulary)
    assert shipped_card.split_sizes == {key: metrics["split"][key] for key in ("train", "validation", "test")}
    assert shipped_card.n_examples == sum(english_split.sizes().values())
    assert sum(shipped_card.calibration["count"]) == len(english_split.test)
    assert sum(shipped_card.token_length_counts) == shipped_card.n_examples
    labels = pd.concat([english_split.train, english_split.validation, english_split.test])["label"]
    assert shipped_card.class_counts == {"negative": int((labels == 0).sum()), "positive": int((labels == 1).sum())}


def test_shipped_card_wrong_examples_are_really_wrong(model, english_split, shipped_card):
    assert len(shipped_card.wrong_examples) == model_card.WRONG_EXAMPLES
    test_texts = set(english_split.test["text"])
    confidences = [entry["confidence"] for entry in shipped_card.wrong_examples]
    assert confidences == sorted(confidences, reverse=True)
    probabilities = model.predict_proba([entry["text"] for entry in shipped_card.wrong_examples])
    for entry, probability in zip(shipped_card.wrong_examples, probabilities):
        assert entry["text"] in test_texts
        assert int(probability >= 0.5) != entry["label"]
        assert probability == pytest.approx(entry["probability"], abs=1e-5)


def test_provenance_comes_from_the_corpus_registry():
    from attnviz import data

    source, licence = model_card.corpus_provenance("en", {})
    assert (source, licence) == (data.CORPORA["en"].description, data.CORPORA["en"].licence)
    source, licence = model_card.corpus_provenance("upload", {"upload": {"filename": "mine.csv"}})
    assert "mine.csv" in source and "not checked" in licence
