"""Figure builders, the contributions view, exports and presets (no Streamlit)."""

from __future__ import annotations

import csv
import io
import json
import time

import numpy as np
import pytest

from attnviz import export, figures, presets
from attnviz.analysis import Analysis, frozen_array

HOSTILE_TOKENS = ["<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "&lt;b&gt;", "a", "a",
                  "<a href=javascript:alert(1)>x</a>"]


def fake_analysis(tokens: list[str], seed: int = 0, oov: list[bool] | None = None) -> Analysis:
    """An internally consistent Analysis with arbitrary token strings (the tokenizer would strip '<' etc.,
    so this is how the escaping is tested against raw payloads)."""
    generator = np.random.default_rng(seed)
    n, d = len(tokens), 4
    embeddings = generator.normal(size=(n, d))
    scores = embeddings @ embeddings.T
    attention = np.exp(scores - scores.max(axis=1, keepdims=True))
    attention /= attention.sum(axis=1, keepdims=True)
    weights = generator.normal(size=d)
    received = attention.mean(axis=0)
    token_logits = embeddings @ weights
    contributions = received * token_logits
    bias = 0.25
    logit = float(bias + contributions.sum())
    return Analysis(
        text=" ".join(tokens), model_name="fake", tokens=list(tokens),
        token_ids=frozen_array(np.arange(2, n + 2)), oov=frozen_array(oov or [False] * n, dtype=bool),
        embeddings=frozen_array(embeddings), scores=frozen_array(scores), attention=frozen_array(attention),
        attention_output=frozen_array(attention @ embeddings), pooled=frozen_array((attention @ embeddings).mean(0)),
        received=frozen_array(received), token_logits=frozen_array(token_logits),
        contributions=frozen_array(contributions), classifier_weights=frozen_array(weights), bias=bias,
        logit=logit, probability=float(1 / (1 + np.exp(-logit))), truncated=False, n_input_tokens=n)


def spec_of(figure) -> dict:
    return json.loads(figure.to_json())


# ----- heatmap ----------------------------------------------------------------------------------------------
def test_heatmap_has_one_row_and_column_per_position_for_repeated_words(model):
    analysis = model.analyze("bad film, bad bad film")
    trace = spec_of(figures.attention_heatmap(analysis))["data"][0]
    n = analysis.n_tokens
    assert n == 5
    assert trace["x"] == list(range(n)) and trace["y"] == list(range(n))  # numeric: equal words never merge
    z = figures.decode_plotly_array(trace["z"])
    assert z.shape == (n, n)
    np.testing.assert_allclose(z.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(z, analysis.attention)
    np.testing.assert_array_equal(figures.decode_plotly_array(trace["customdata"]), analysis.scores)
    layout = spec_of(figures.attention_heatmap(analysis))["layout"]
    assert layout["xaxis"]["ticktext"] == ["bad", "film", "bad", "bad", "film"]
    assert trace["hovertext"][0][2] == "bad #1 → bad #3"  # both tokens with their own positions
    assert trace["zmin"] == 0 and trace["zmax"] == 1
    assert trace["texttemplate"] == "%{z:.2f}"  # short sentence: numbers in the cells


def test_heatmap_auto_range_and_oov_marks(model):
    analysis = model.analyze("a blorptastic film")
    assert analysis.oov.tolist() == [False, True, False]
    spec = spec_of(figures.attention_heatmap(analysis, auto_range=True))
    assert spec["data"][0]["zmax"] == pytest.approx(float(analysis.attention.max()))
    assert spec["layout"]["xaxis"]["ticktext"][1].startswith("blorptastic") and "?" in spec["layout"]["xaxis"][
        "ticktext"][1]
    assert "unknown word" in spec["data"][0]["hovertext"][0][1]


def test_heatmap_for_256_tokens_is_fast_readable_and_exact(model):
    analysis = model.analyze(" ".join(f"good bad film word{i}" for i in range(80)))
    assert analysis.n_tokens == 256 and analysis.truncated and analysis.n_input_tokens == 320
    started = time.perf_counter()
    figure = figures.attention_heatmap(analysis)
    json_text = figure.to_json()
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, f"building + serialising a 256-token heatmap took {elapsed:.2f} s"
    spec = json.loads(json_text)
    trace = spec["data"][0]
    assert "texttemplate" not in trace  # no per-cell numbers at this size
    z = figures.decode_plotly_array(trace["z"])
    assert z.shape == (256, 256)
    np.testing.assert_array_equal(z, analysis.attention)
    assert len(spec["layout"]["xaxis"]["tickvals"]) <= 64  # thinned tick labels


def test_hostile_tokens_are_escaped_in_every_plotly_string():
    analysis = fake_analysis(HOSTILE_TOKENS)
    for figure in (figures.attention_heatmap(analysis), figures.received_attention_bars(analysis)):
        text = figure.to_json()
        for payload in ("<script", "<img", "<a href", "&lt;b&gt;"):
            assert payload not in text.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&")
    hovertext = spec_of(figures.attention_heatmap(analysis))["data"][0]["hovertext"]
    assert hovertext[0][0].startswith("&lt;script&gt;alert(1)&lt;/script&gt; #1")
    assert hovertext[2][2] == "&amp;lt;b&amp;gt; #3 → &amp;lt;b&amp;gt; #3"


# ----- received bars, contributions ----------------------------------------------------------------------
def test_received_bars_match_analysis(model):
    analysis = model.analyze("the film the film was moving")
    spec = spec_of(figures.received_attention_bars(analysis))
    bars = spec["data"][0]
    assert bars["x"] == list(range(analysis.n_tokens))
    np.testing.assert_allclose(figures.decode_plotly_array(bars["y"]), analysis.received)
    assert sum(bars["y"]) == pytest.approx(1.0)  # mean of rows that each sum to 1
    assert spec["layout"]["shapes"][0]["y0"] == pytest.approx(1 / analysis.n_tokens)
    assert [row[3] for row in bars["customdata"]] == pytest.approx(analysis.contributions.tolist())


def test_contributions_html_escapes_and_shows_every_token():
    analysis = fake_analysis(HOSTILE_TOKENS, oov=[False, False, False, True, False, False])
    markup = figures.contributions_html(analysis)
    for payload in ("<script", "<img", "<a href", "&lt;b&gt;", 'onerror="'):
        assert payload not in markup
    assert "&amp;lt;b&amp;gt;" in markup and "&lt;script&gt;" in markup
    assert markup.count('<span title="') == len(HOSTILE_TOKENS)
    for contribution in analysis.contributions:
        assert f"{contribution:+.2f}" in markup
    assert markup.count("dashed") == 1  # the one unknown word


def test_probability_bar_html():
    markup = figures.probability_bar_html(0.8)
    assert "width:80.00%" in markup and "rgb(33, 102, 172)" in markup  # blue: positive
    assert "rgb(178, 24, 43)" in figures.probability_bar_html(0.2)  # red: negative
    with pytest.raises(ValueError, match=r"1\.5"):
        figures.probability_bar_html(1.5)


def test_logit_identity_and_strongest(model):
    analysis = model.analyze("a dull, boring film with a moving score")
    terms = figures.logit_identity_terms(analysis)
    assert terms["reconstructed"] == pytest.approx(terms["logit"], abs=1e-4)
    assert terms["logit"] == analysis.logit and terms["bias"] == analysis.bias
    most_positive, most_negative = figures.strongest_contributions(analysis)
    assert most_negative == int(np.argmin(analysis.contributions))
    assert most_positive is None or analysis.contributions[most_positive] == analysis.contributions.max()


def test_image_export_config():
    config = figures.image_export_config("attnviz-not-bad", "svg")
    assert config["toImageButtonOptions"] == {"format": "svg", "filename": "attnviz-not-bad", "scale": 2}
    with pytest.raises(ValueError, match="gif"):
        figures.image_export_config("x", "gif")


def test_decode_plotly_array_handles_lists_and_bdata():
    import plotly.graph_objects as go

    matrix = np.arange(12, dtype=np.float64).reshape(3, 4)
    trace = json.loads(go.Figure(go.Heatmap(z=matrix)).to_json())["data"][0]
    np.testing.assert_array_equal(figures.decode_plotly_array(trace["z"]), matrix)
    np.testing.assert_array_equal(figures.decode_plotly_array([[1, 2], [3, 4]]), [[1, 2], [3, 4]])


# ----- exports -----------------------------------------------------------------------------------------------------
def test_attention_csv_round_trips_exactly(model):
    analysis = model.analyze("the film, the film and the end")
    rows = list(csv.reader(io.StringIO(export.attention_csv(analysis))))
    assert rows[0][1:] == analysis.token_labels  # "the #1", "the #3": unique per position
    matrix = np.array([[float(value) for value in row[1:]] for row in rows[1:]])
    np.testing.assert_array_equal(matrix, analysis.attention)
    assert [row[0] for row in rows[1:]] == analysis.token_labels


def test_tokens_csv_and_json_match_analysis(model):
    analysis = model.analyze("not bad at all, blorptastic")
    rows = list(csv.DictReader(io.StringIO(export.tokens_csv(analysis))))
    assert [row["token"] for row in rows] == analysis.tokens
    assert [row["unknown"] == "True" for row in rows] == analysis.oov.tolist()
    np.testing.assert_array_equal([float(row["contribution"]) for row in rows], analysis.contributions)
    np.testing.assert_array_equal([float(row["received_attention"]) for row in rows], analysis.received)
    document = json.loads(export.analysis_json(analysis))
    assert document["tokens"] == analysis.tokens and document["logit"] == analysis.logit
    np.testing.assert_array_equal(np.array(document["attention"]), analysis.attention)
    assert document["label"] == analysis.label and "attnviz_version" in document


def test_file_stem_is_safe():
    assert export.file_stem(fake_analysis(["Not", "bad", "at", "all"])) == "attnviz-not-bad-at-all"
    assert export.file_stem(fake_analysis(["../../etc/passwd"])) == "attnviz-etc-passwd"
    assert export.file_stem(fake_analysis(["电影", "很好"])) == "attnviz-sentence"
    assert len(export.file_stem(fake_analysis(["word"] * 100))) <= len("attnviz-") + export.FILE_STEM_MAX_CHARACTERS


# ----- presets -----------------------------------------------------------------------------------------------------
def test_clear_presets_are_classified_as_a_person_would(model):
    by_name = {preset.name: preset for preset in presets.presets_for("en")}
    assert {"Clearly positive", "Clearly negative"} <= set(by_name)
    for name in ("Clearly positive", "Clearly negative"):
        analysis = model.analyze(by_name[name].text)
        assert analysis.label == by_name[name].human_label, (name, analysis.probability)
        assert abs(analysis.probability - 0.5) > 0.3, (name, analysis.probability)


def test_every_preset_is_readable_and_the_long_one_is_long(model):
    for preset in presets.presets_for("en"):
        analysis = model.analyze(preset.text)
        assert analysis.n_tokens >= 3 and not analysis.all_unknown
    long_preset = presets.preset_by_name("A long review")
    assert model.analyze(long_preset.text).n_tokens > 50
