"""AppTest of the Explore page (app.py): prediction, heatmap, presets, URL state, bad input, downloads."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from attnviz import export, figures, presets, ui
from attnviz.errors import ModelLoadError
from tests.conftest import APP_TEST_TIMEOUT

APP_PATH = str(Path(__file__).resolve().parent.parent / "app.py")
TEXT_WIDGET, PRESET_WIDGET, AUTO_RANGE_WIDGET = "explore_text", "explore_preset", "explore_auto_range"


def run_app(query_params: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(APP_PATH, default_timeout=APP_TEST_TIMEOUT)
    for key, value in (query_params or {}).items():
        app.query_params[key] = value
    return app.run()


def charts(app: AppTest) -> list[tuple[dict, dict]]:
    """(spec, config) of every Plotly chart on the page."""
    return [(json.loads(chart.proto.spec), json.loads(chart.proto.config or "{}"))
            for chart in app.get("plotly_chart")]


def heatmap(app: AppTest) -> tuple[dict, dict]:
    matches = [(spec, config) for spec, config in charts(app) if spec["data"][0]["type"] == "heatmap"]
    assert len(matches) == 1, f"expected one heatmap, found {len(matches)}"
    return matches[0]


def assert_heatmap_matches(app: AppTest, analysis) -> dict:
    spec, _ = heatmap(app)
    trace = spec["data"][0]
    n = analysis.n_tokens
    assert trace["x"] == list(range(n)) and trace["y"] == list(range(n))
    z = figures.decode_plotly_array(trace["z"])
    assert z.shape == (n, n)
    np.testing.assert_allclose(z.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(z, analysis.attention)
    return spec


def metric_values(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def html_bodies(app: AppTest, css_class: str) -> str:
    """The body of the one st.html element whose markup has ``css_class``."""
    bodies = [element.proto.body for element in app.get("html") if f'class="{css_class}"' in element.proto.body]
    assert len(bodies) == 1, f"expected one {css_class} element, found {len(bodies)}"
    return bodies[0]


def no_exception(app: AppTest) -> None:
    assert not app.exception, [exception.message for exception in app.exception]


def test_default_view_renders_prediction_heatmap_bars_and_identity(model):
    app = run_app()
    no_exception(app)
    analysis = model.analyze(ui.DEFAULT_TEXT)
    assert app.text_input(key=TEXT_WIDGET).value == ui.DEFAULT_TEXT
    assert_heatmap_matches(app, analysis)
    assert len(app.get("plotly_chart")) == 2  # heatmap, received bars
    assert metric_values(app) == {"P(positive)": f"{analysis.probability:.3f}",
                                  "Logit": f"{analysis.logit:+.3f}"}
    verdicts = [markdown.value for markdown in app.markdown if markdown.value.startswith("## ")]
    assert len(verdicts) == 1 and f" {analysis.label}]" in verdicts[0]
    probability_bar = html_bodies(app, "attnviz-probability")
    assert f'aria-label="P(positive) = {analysis.probability:.3f}"' in probability_bar
    identity = next(markdown.value for markdown in app.markdown if markdown.value.startswith("**logit = bias"))
    assert f"{analysis.logit:+.4f}" in identity and f"{analysis.bias:+.4f}" in identity
    assert any("Every row adds up to 1" in caption.value for caption in app.caption)
    contributions_markup = html_bodies(app, "attnviz-contributions")
    assert contributions_markup.count('<span title="') == analysis.n_tokens
    assert app.query_params["text"] == ui.DEFAULT_TEXT
    assert [button.label for button in app.get("download_button")] == [
        "Attention matrix (CSV)", "Numbers per word (CSV)", "Everything (JSON)"]
    assert any("Formula" in link.proto.page for link in app.get("page_link"))


def test_typing_a_sentence_with_repeated_words_updates_everything(model):
    app = run_app()
    sentence = "the film was bad, the film was dull"
    app.text_input(key=TEXT_WIDGET).set_value(sentence).run()
    no_exception(app)
    analysis = model.analyze(sentence)
    assert analysis.n_tokens == 8
    spec = assert_heatmap_matches(app, analysis)
    assert spec["layout"]["xaxis"]["ticktext"] == ["the", "film", "was", "bad", "the", "film", "was", "dull"]
    assert metric_values(app)["P(positive)"] == f"{analysis.probability:.3f}"
    bars = next(chart_spec for chart_spec, _ in charts(app) if chart_spec["data"][0]["type"] == "bar")
    np.testing.assert_allclose(figures.decode_plotly_array(bars["data"][0]["y"]), analysis.received)
    assert app.query_params["text"] == sentence
    assert app.session_state["text"] == sentence  # shared with the other pages


@pytest.mark.parametrize("preset", presets.presets_for("en"), ids=lambda preset: preset.name)
def test_presets_fill_the_box_and_update_the_view(model, preset):
    app = run_app()
    app.button_group(key=PRESET_WIDGET).set_value(preset.name).run()
    no_exception(app)
    assert app.text_input(key=TEXT_WIDGET).value == preset.text
    analysis = model.analyze(preset.text)
    spec = assert_heatmap_matches(app, analysis)
    assert ("texttemplate" in spec["data"][0]) == (analysis.n_tokens <= figures.CELL_TEXT_MAX_TOKENS)
    assert app.button_group(key=PRESET_WIDGET).value == preset.name  # the menu shows which preset is on
    app.text_input(key=TEXT_WIDGET).set_value(preset.text + " indeed").run()
    assert app.button_group(key=PRESET_WIDGET).value is None  # edited: no longer that preset


def test_query_parameters_restore_the_view_and_are_written_back(model):
    app = run_app({"text": "not bad at all", "range": "auto", "image": "svg", "classroom": "1"})
    no_exception(app)
    analysis = model.analyze("not bad at all")
    assert app.text_input(key=TEXT_WIDGET).value == "not bad at all"
    assert app.toggle(key=AUTO_RANGE_WIDGET).value is True
    spec, config = heatmap(app)
    assert spec["data"][0]["zmax"] == pytest.approx(float(analysis.attention.max()))
    assert config["toImageButtonOptions"]["format"] == "svg"
    assert config["toImageButtonOptions"]["filename"] == export.file_stem(analysis) == "attnviz-not-bad-at-all"
    assert spec["layout"]["font"]["size"] == ui.CLASSROOM_FONT_SIZE
    assert all(not expander.proto.expanded for expander in app.expander)  # classroom: explanations collapsed
    assert app.session_state["classroom"] is True
    # Written back: options off -> parameters removed; a new sentence -> the URL follows.
    app.toggle(key=AUTO_RANGE_WIDGET).set_value(False).run()
    app.text_input(key=TEXT_WIDGET).set_value("a boring mess").run()
    no_exception(app)
    assert "range" not in app.query_params
    assert app.query_params["text"] == "a boring mess"
    assert app.query_params["classroom"] == "1" and app.query_params["image"] == "svg"
    assert heatmap(app)[0]["data"][0]["zmax"] == 1


def test_unknown_model_in_the_url_falls_back_to_the_default(model):
    app = run_app({"model": "no-such-model", "text": "a fine film"})
    no_exception(app)
    assert_heatmap_matches(app, model.analyze("a fine film"))
    assert "model" not in app.query_params


@pytest.mark.parametrize("text", ["", "   ", "?!... ;; --", "😀 🎬 !!!"])
def test_empty_or_punctuation_only_text_gives_a_friendly_message_and_no_chart(text):
    app = run_app({"text": text})
    no_exception(app)
    assert not app.get("plotly_chart")
    assert len(app.info) == 1 and "no words the model can read" in app.info[0].value


def test_text_over_the_limit_shows_the_first_256_tokens_and_the_original_count(model):
    long_text = " ".join(f"good film number{i}" for i in range(100))  # 300 tokens
    app = run_app()
    app.text_input(key=TEXT_WIDGET).set_value(long_text).run()
    no_exception(app)
    analysis = model.analyze(long_text)
    assert analysis.n_tokens == 256 and analysis.n_input_tokens == 300
    assert_heatmap_matches(app, analysis)
    warnings = [warning.value for warning in app.warning]
    assert any("300 words" in warning and "first 256" in warning for warning in warnings), warnings
    assert any("switch on **Auto colour range**" in caption.value for caption in app.caption)  # pale at 0-1


def test_all_unknown_words_warn_that_the_prediction_rests_on_the_unknown_token():
    app = run_app({"text": "qwzxv blorptastic zzyzzx"})
    no_exception(app)
    assert any("knows none of these words" in warning.value for warning in app.warning)
    assert heatmap(app)  # still shown: the model does compute something


@pytest.mark.parametrize("payload", [
    "<script>alert('x')</script> great film",
    '<img src=x onerror="alert(1)"> boring',
    "<a href=javascript:alert(1)>click</a> fine",
    "&lt;b&gt;bold&lt;/b&gt; movie",
    "[click](javascript:alert(1)) ![img](http://example.invalid/x.png) $x^2$ :red[hi]",
])
def test_html_and_markdown_payloads_are_shown_as_text_only(payload):
    app = run_app({"text": payload})
    no_exception(app)
    assert app.text_input(key=TEXT_WIDGET).value == payload
    rendered = [markdown.value for markdown in app.markdown] + [caption.value for caption in app.caption]
    rendered += [element.proto.body for element in app.get("html")]
    rendered += [chart.proto.spec for chart in app.get("plotly_chart")]
    for text in rendered:
        for dangerous in ("<script", "<img", "<a href", "javascript:alert", "](", "&lt;b&gt;"):
            assert dangerous not in text, (dangerous, text[:200])


def test_downloads_carry_the_same_numbers_as_analyze(model, monkeypatch):
    generated = {}
    original_add_deferred = MediaFileManager.add_deferred

    def recording_add_deferred(self, data_callable, *args, **kwargs):
        file_id = original_add_deferred(self, data_callable, *args, **kwargs)
        generated[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", recording_add_deferred)
    sentence = "not bad at all, the film the film"
    app = run_app({"text": sentence})
    no_exception(app)
    analysis = model.analyze(sentence)
    files = {button.label: generated[button.proto.deferred_file_id]() for button in app.get("download_button")}

    matrix_rows = list(csv.reader(io.StringIO(files["Attention matrix (CSV)"])))
    assert matrix_rows[0][1:] == analysis.token_labels
    np.testing.assert_array_equal(np.array([[float(v) for v in row[1:]] for row in matrix_rows[1:]]),
                                  analysis.attention)
    token_rows = list(csv.DictReader(io.StringIO(files["Numbers per word (CSV)"])))
    np.testing.assert_array_equal([float(row["contribution"]) for row in token_rows], analysis.contributions)
    document = json.loads(files["Everything (JSON)"])
    assert document["text"] == sentence and document["probability"] == analysis.probability
    np.testing.assert_array_equal(np.array(document["attention"]), analysis.attention)
    names = {button.label: button.proto for button in app.get("download_button")}
    assert names  # file names are checked through export.file_stem in the query-parameter test


def test_sentence_and_classroom_mode_are_shared_with_the_formula_page():
    app = run_app()
    app.text_input(key=TEXT_WIDGET).set_value("a boring mess").run()
    app.toggle(key="_sidebar_classroom_toggle").set_value(True).run()
    app.switch_page("pages/1_Formula.py").run()
    no_exception(app)
    assert app.text_area[0].value == "a boring mess"
    assert app.toggle(key="_sidebar_classroom_toggle").value is True
    app.text_area[0].set_value("what a lovely film").run()
    app.switch_page("app.py").run()
    no_exception(app)
    assert app.text_input(key=TEXT_WIDGET).value == "what a lovely film"  # edited elsewhere, shown here
    assert app.toggle(key="_sidebar_classroom_toggle").value is True
    assert app.query_params["text"] == "what a lovely film"


@pytest.mark.parametrize("error, shown, hidden", [
    (RuntimeError("internal detail /srv/secret.py line 3"), "Something unexpected went wrong", "/srv/secret.py"),
    (ModelLoadError("models/en/model.keras could not be loaded. Restore it with git."), "could not be loaded", None),
])
def test_model_failures_give_a_message_not_a_traceback(monkeypatch, error, shown, hidden):
    def failing_analyze(text, model_name=None):
        raise error

    monkeypatch.setattr(ui, "analyze", failing_analyze)
    app = run_app({"text": "a fine film"})
    no_exception(app)
    assert not app.get("plotly_chart")
    messages = [element.value for element in app.error]
    assert len(messages) == 1 and shown in messages[0]
    if hidden:
        assert hidden not in messages[0]
