"""Compare page (AppTest): side by side on one colour scale, B − A difference, aligned bars, quick edits, URL
round trip, occlusion table against re-running analyze, batch upload with good and bad files."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from attnviz import compare
from tests.conftest import APP_TEST_TIMEOUT

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "2_Compare.py")


def decode(value):
    """Plotly ≥ 6 may store arrays as {"dtype", "bdata", "shape"}; turn them back into nested lists."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            array = array.reshape([int(size) for size in str(value["shape"]).split(",")])
        return array.tolist()
    return value


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def attention_heatmaps(at: AppTest) -> list[dict]:
    """The per-input heatmaps (the difference heatmap is the one centred with zmid)."""
    return [spec["data"][0] for spec in charts(at)
            if spec["data"][0]["type"] == "heatmap" and "zmid" not in spec["data"][0]]


def difference_heatmaps(at: AppTest) -> list[dict]:
    return [spec for spec in charts(at) if spec["data"][0]["type"] == "heatmap" and "zmid" in spec["data"][0]]


def bar_charts(at: AppTest) -> list[dict]:
    return [spec for spec in charts(at) if spec["data"][0]["type"] == "bar"]


def open_page(texts: list[str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=APP_TEST_TIMEOUT)
    if texts is not None:
        at.query_params["text"] = texts
    return at.run()


def input_values(at: AppTest) -> list[str]:
    return [widget.value for widget in at.text_input if widget.key.startswith("compare_input_")]


def dataframe_with(at: AppTest, column: str) -> pd.DataFrame:
    matches = [frame.value for frame in at.dataframe if column in frame.value.columns]
    assert matches, f"no table with a {column!r} column"
    return matches[0]


def plain(markdown: str) -> str:
    """Undo ui.markdown_safe's backslash escapes, so messages can be matched as the user reads them."""
    return re.sub(r"\\(.)", r"\1", markdown)


def messages(elements) -> list[str]:
    return [plain(element.value) for element in elements]


def no_failure(at: AppTest) -> None:
    assert not at.exception, [item.value for item in at.exception]


# ----- side by side ------------------------------------------------------------------------------------------
def test_default_view_has_two_inputs_on_one_shared_scale(model):
    at = open_page()
    no_failure(at)
    texts = input_values(at)
    assert len(texts) == 2 and texts[0] and texts[1] != texts[0]
    analyses = [model.analyze(text) for text in texts]
    heatmaps = attention_heatmaps(at)
    assert len(heatmaps) == 2
    shared = max(float(analysis.attention.max()) for analysis in analyses)
    for heatmap, analysis in zip(heatmaps, analyses):
        assert heatmap["zmin"] == 0 and heatmap["zmax"] == pytest.approx(shared)
        np.testing.assert_allclose(np.array(decode(heatmap["z"])), analysis.attention, atol=1e-9)
    summary = dataframe_with(at, "P(positive)")
    assert list(summary.index) == ["A", "B"]
    np.testing.assert_allclose(summary["P(positive)"], [analysis.probability for analysis in analyses])
    assert list(summary["tokens"]) == [analysis.n_tokens for analysis in analyses]
    assert at.query_params["text"] == texts  # the comparison is in the URL from the start


def test_four_inputs_share_one_scale_and_the_fixed_scale_is_0_to_1(model):
    at = open_page(["a good film", "a bad film"])
    add = next(button for button in at.button if button.label == "Add an input")
    add.click().run()
    add = next(button for button in at.button if button.label == "Add an input")
    add.click().run()
    no_failure(at)
    at.text_input(key="compare_input_2").set_value("utterly dreadful").run()
    at.text_input(key="compare_input_3").set_value("good good good good good").run()
    texts = input_values(at)
    assert texts == ["a good film", "a bad film", "utterly dreadful", "good good good good good"]
    assert next(button for button in at.button if button.label == "Add an input").disabled  # at most four
    heatmaps = attention_heatmaps(at)
    assert len(heatmaps) == 4
    shared = max(float(model.analyze(text).attention.max()) for text in texts)
    assert [heatmap["zmax"] for heatmap in heatmaps] == pytest.approx([shared] * 4)
    assert len(dataframe_with(at, "P(positive)")) == 4
    at.radio(key="compare_scale").set_value("fixed: 0 to 1").run()
    assert [heatmap["zmax"] for heatmap in attention_heatmaps(at)] == [1.0] * 4
    at.button(key="compare_remove_2").click().run()
    assert input_values(at) == ["a good film", "a bad film", "good good good good good"]
    assert at.query_params["text"] == input_values(at)


def test_unreadable_and_hostile_inputs_get_messages_not_crashes(model):
    at = open_page(["<script>alert(1)</script> good", "!!!"])
    no_failure(at)
    assert any("no words the model can read" in text for text in messages(at.info))
    (heatmap_spec,) = [spec for spec in charts(at) if spec["data"][0]["type"] == "heatmap"]
    ticks = heatmap_spec["layout"]["xaxis"]["ticktext"]
    assert not any("<script" in tick for tick in ticks)
    assert any("two readable inputs" in text.lower() for text in messages(at.info))


# ----- differences and alignment -----------------------------------------------------------------------------
def test_difference_heatmap_is_b_minus_a_for_equal_token_counts(model):
    at = open_page(["a good film", "a bad film"])
    no_failure(at)
    (difference_spec,) = difference_heatmaps(at)
    first, second = model.analyze("a good film"), model.analyze("a bad film")
    expected = second.attention - first.attention
    trace = difference_spec["data"][0]
    np.testing.assert_allclose(np.array(decode(trace["z"])), expected, atol=1e-9)
    assert trace["zmid"] == 0 and trace["zmin"] == pytest.approx(-trace["zmax"])
    assert trace["zmax"] == pytest.approx(np.abs(expected).max())
    assert difference_spec["layout"]["xaxis"]["ticktext"] == ["a", "good → bad", "film"]


def test_unequal_counts_skip_the_difference_but_align_the_bars(model):
    at = open_page(["not bad at all", "bad at all, really, truly"])
    no_failure(at)
    assert difference_heatmaps(at) == []
    assert any("A has 4 tokens and B has 5" in text for text in messages(at.info))
    (bars,) = bar_charts(at)
    assert bars["layout"]["xaxis"]["ticktext"] == ["not → ·", "bad", "at", "all", "· → really", "· → truly"]
    first, second = model.analyze("not bad at all"), model.analyze("bad at all, really, truly")
    values_a = decode(bars["data"][0]["y"])
    values_b = decode(bars["data"][1]["y"])
    assert values_a[4:] == [None, None] and values_b[0] is None
    np.testing.assert_allclose(values_a[:4], first.received)
    np.testing.assert_allclose(values_b[1:], second.received)


# ----- quick edits -------------------------------------------------------------------------------------------
def test_quick_edits_write_the_edited_text_into_input_b():
    source = "The film is good, really good."
    at = open_page([source, "placeholder"])
    at.selectbox(key="compare_quick_word").set_value(3).run()  # "good" (#4)
    at.button(key="compare_quick_remove").click().run()
    assert input_values(at)[1] == compare.remove_word(source, 3) == "The film is , really good."
    at.button(key="compare_quick_replace").click().run()  # empty box: the suggested opposite "bad"
    assert input_values(at)[1] == "The film is bad, really good."
    # Typing and clicking in the same round trip: the callback must use the word just typed.
    at.text_input(key="compare_quick_replacement").set_value("fine")
    at.button(key="compare_quick_replace").click().run()
    assert input_values(at)[1] == "The film is fine, really good."
    at.button(key="compare_quick_negate").click().run()
    assert input_values(at)[1] == "The film is not good, really good."
    assert at.query_params["text"] == [source, "The film is not good, really good."]
    no_failure(at)


# ----- URL ---------------------------------------------------------------------------------------------------
def test_url_round_trip_restores_the_same_comparison(model):
    at = open_page(["good film", "bad film"])
    assert input_values(at) == ["good film", "bad film"]
    at.text_input(key="compare_input_1").set_value("awful film").run()
    assert at.query_params["text"] == ["good film", "awful film"]
    restored = open_page(list(at.query_params["text"]))
    no_failure(restored)
    assert input_values(restored) == ["good film", "awful film"]
    np.testing.assert_allclose(dataframe_with(restored, "P(positive)")["P(positive)"],
                               [model.analyze("good film").probability, model.analyze("awful film").probability])


def test_a_single_url_text_gets_a_variant_as_input_b():
    at = open_page(["a good film"])
    assert input_values(at) == ["a good film", "a bad film"]


def test_each_input_links_to_the_explore_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TEST_TIMEOUT).run()
    at.switch_page("pages/2_Compare.py")
    at.query_params["text"] = ["good film", "bad film"]
    at.run()
    no_failure(at)
    links = [link for link in at.get("page_link") if "Explore" in link.proto.label]
    assert len(links) == 2
    assert [link.proto.query_string for link in links] == ["text=good+film", "text=bad+film"]


# ----- does attention explain the prediction? ----------------------------------------------------------------
def test_occlusion_table_equals_rerunning_analyze_on_each_edited_text(model):
    text = "a gorgeous, witty and moving film"
    at = open_page([text, "a dull film"])
    no_failure(at)
    table = dataframe_with(at, "occlusion effect")
    original = model.analyze(text)
    assert list(table["token"]) == original.tokens
    np.testing.assert_allclose(table["received W_j"], original.received)
    np.testing.assert_allclose(table["contribution"], original.contributions)
    for position, edited in enumerate(table["text without it"]):
        assert edited == compare.remove_word(text, position)
        expected = original.probability - model.analyze(edited).probability
        assert table["occlusion effect"][position] == pytest.approx(expected, abs=1e-6)
    correlations = compare.explanation_correlations(table)
    shown = {metric.label: metric.value for metric in at.metric}
    assert shown["Rank correlation: contribution vs effect"] == f"{correlations['contribution_vs_occlusion']:+.2f}"
    assert any("not an explanation" in block.value for block in at.markdown)
    at.selectbox(key="compare_occlusion_input").set_value("B").run()
    assert list(dataframe_with(at, "occlusion effect")["token"]) == ["a", "dull", "film"]


# ----- batch -------------------------------------------------------------------------------------------------
def test_batch_upload_of_a_good_file_predicts_every_row_with_accuracy(model):
    rows = [("a wonderful, moving film", "positive"), ("the worst film I have seen", "neg"),
            ("boring and far too long", "0"), ("a delight from start to finish", "1")]
    data = ("text,label\n" + "".join(f'"{text}",{label}\n' for text, label in rows)).encode()
    at = open_page(["good", "bad"])
    at.file_uploader(key="compare_batch_file").set_value(("reviews.csv", data, "text/csv")).run()
    at.button(key="compare_batch_run_file").click().run()
    no_failure(at)
    assert not at.error
    results = dataframe_with(at, "top attended token")
    assert len(results) == 4
    expected_labels = [1, 0, 0, 1]
    correct = 0
    for row, ((text, _label), expected) in enumerate(zip(rows, expected_labels)):
        analysis = model.analyze(text)
        assert results["P(positive)"][row] == pytest.approx(analysis.probability, abs=1e-6)
        assert results["top attended token"][row] == analysis.tokens[int(np.argmax(analysis.received))]
        correct += int((analysis.probability >= 0.5) == bool(expected))
    shown = {metric.label: metric.value for metric in at.metric}
    assert shown["Accuracy"] == f"{correct / 4:.1%}"
    assert shown["Rows"] == "4"
    (download,) = [button for button in at.get("download_button")]
    assert download is not None


@pytest.mark.parametrize(("data", "message"), [
    (b"review,stars\ngreat,5\n", "column named 'text'"),
    ("text\ncaf\xe9\n".encode("latin-1"), "not UTF-8"),
    (b"", "empty"),
    (b"text,label\ngood,maybe\n", "label 'maybe'"),
    (b"text\n" + b"a\n" * (compare.BATCH_MAX_ROWS + 1), "the limit is 5,000"),
])
def test_batch_upload_of_a_bad_file_shows_a_message(data, message):
    at = open_page(["good", "bad"])
    at.file_uploader(key="compare_batch_file").set_value(("bad.csv", data, "text/csv")).run()
    at.button(key="compare_batch_run_file").click().run()
    no_failure(at)
    assert any(message in text for text in messages(at.error)), messages(at.error)
    assert all("top attended token" not in frame.value.columns for frame in at.dataframe)


def test_batch_of_pasted_lines_without_labels(model):
    at = open_page(["good", "bad"])
    at.text_area(key="compare_batch_lines").set_value("a lovely film\n\n???\nawful acting\n").run()
    at.button(key="compare_batch_run_lines").click().run()
    no_failure(at)
    results = dataframe_with(at, "top attended token")
    assert list(results["text"]) == ["a lovely film", "???", "awful acting"]
    assert results["note"][1] == "no readable words"
    assert results["prediction"][2] == model.analyze("awful acting").label
    assert "Accuracy" not in {metric.label for metric in at.metric}
    assert any("no words the model can read" in text for text in messages(at.info))
