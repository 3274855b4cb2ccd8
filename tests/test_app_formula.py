"""AppTest of the formula page: the numbers it shows are the model's, the proof passes, the what-if is honest,
the URL state round-trips and bad input gives a message instead of an exception."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from attnviz import formula, walkthrough
from tests.conftest import APP_TEST_TIMEOUT

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "1_Formula.py")
USER_SENTENCE = "The acting was wooden but the music, oh the music, was wonderful."


def run_page(**query_parameters: str) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=APP_TEST_TIMEOUT)
    for name, value in query_parameters.items():
        app.query_params[name] = value
    app.run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def figures_by_title(app: AppTest) -> dict[str, dict]:
    """Every Plotly chart's spec, keyed by the start of its title."""
    result = {}
    for chart in app.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec["layout"].get("title", {})
        result[title.get("text", "") if isinstance(title, dict) else str(title)] = spec
    return result


def figure_starting_with(app: AppTest, prefix: str) -> dict:
    matches = [spec for title, spec in figures_by_title(app).items() if title.startswith(prefix)]
    assert len(matches) == 1, (prefix, list(figures_by_title(app)))
    return matches[0]


def table_with_column(app: AppTest, column: str):
    matches = [frame.value for frame in app.dataframe if column in frame.value.columns]
    assert matches, (column, [list(frame.value.columns) for frame in app.dataframe])
    return matches[0]


def z_values(spec: dict) -> np.ndarray:
    z = spec["data"][0]["z"]
    assert isinstance(z, list), "z must be stored as plain lists"
    return np.array(z, dtype=np.float64)


def latex_formulas(app: AppTest) -> list[str]:
    """The bodies of every st.latex element (Streamlit wraps them in ``$$``)."""
    return [latex.value.strip().removeprefix("$$").removesuffix("$$").strip() for latex in app.latex]


def headers(app: AppTest) -> list[str]:
    return [header.value for header in app.header]


@pytest.fixture(scope="module")
def user_analysis(model):
    return model.analyze(USER_SENTENCE)


@pytest.fixture(scope="module")
def everything(model):
    """The page with a user sentence, every step shown, worked cell (3, 5)."""
    return run_page(text=USER_SENTENCE, step="all", i="3", j="5")


def test_default_sentence_renders_step_one(model):
    from attnviz import ui

    app = run_page()
    assert headers(app)[0] == "Step 1. Tokens and ids"
    assert sum(header.startswith("Step ") for header in headers(app)) == 1
    analysis = model.analyze(ui.DEFAULT_TEXT)
    tokens = table_with_column(app, "token")
    assert list(tokens["token"]) == analysis.tokens
    assert list(tokens["id"]) == analysis.token_ids.tolist()
    assert app.query_params["step"] == ["1"] or app.query_params["step"] == "1"
    assert len(app.latex) >= 2  # the step formula and the what-if formula


def test_show_everything_renders_all_steps(everything):
    shown = headers(everything)
    for step in walkthrough.STEPS:
        assert f"Step {step.number}. {step.title}" in shown
    assert "What if? (hypothetical)" in shown
    assert len(everything.get("download_button")) == 1


def test_step_figures_equal_the_analysis(everything, user_analysis):
    analysis = user_analysis
    np.testing.assert_array_equal(z_values(figure_starting_with(everything, "Embeddings X")), analysis.embeddings)
    np.testing.assert_array_equal(z_values(figure_starting_with(everything, "Scores S")), analysis.scores)
    np.testing.assert_array_equal(z_values(figure_starting_with(everything, "Attention A")), analysis.attention)
    steps = formula.compute_steps(analysis.embeddings, analysis.classifier_weights, analysis.bias)
    np.testing.assert_array_equal(z_values(figure_starting_with(everything, "Exponentials")),
                                  steps.shifted_exponentials)
    received = figure_starting_with(everything, "W_j")["data"][0]["y"]
    np.testing.assert_array_equal(received, analysis.received)
    contributions = figure_starting_with(everything, "Contribution")["data"][0]["y"]
    np.testing.assert_array_equal(contributions, analysis.contributions)
    # one row/column per position even though "the" and "music" repeat
    scores = figure_starting_with(everything, "Scores S")
    assert scores["layout"]["yaxis"]["tickvals"] == list(range(analysis.n_tokens))


def test_step_tables_equal_the_analysis(everything, user_analysis):
    analysis = user_analysis
    embeddings = table_with_column(everything, "x[1]")
    rows, columns = embeddings.shape
    np.testing.assert_array_equal(embeddings.to_numpy(), analysis.embeddings[:rows, :columns])
    outputs = table_with_column(everything, "o[1]")
    np.testing.assert_array_equal(outputs.to_numpy(), analysis.attention_output[:rows, :columns])
    attention_row_sums = [frame.value for frame in everything.dataframe if "Σ_j A_ij" in frame.value.index]
    assert attention_row_sums and np.allclose(attention_row_sums[0].to_numpy(), 1.0, atol=1e-6)
    split = table_with_column(everything, "contribution W_j (w·x_j)")
    np.testing.assert_array_equal(split["W_j (received)"].to_numpy(), analysis.received)
    np.testing.assert_array_equal(split["w·x_j"].to_numpy(), analysis.token_logits)
    pooling = table_with_column(everything, "ō[1]")
    np.testing.assert_array_equal(pooling.iloc[0].to_numpy(), analysis.pooled[: pooling.shape[1]])
    metrics = {metric.label: metric.value for metric in everything.metric}
    assert metrics["Logit z (model)"] == walkthrough.format_number(analysis.logit, 6)
    assert metrics[f"P(positive) (model) → {analysis.label}"] == walkthrough.format_number(analysis.probability, 6)
    assert any("Equal: max |ō − Σ_j W_j x_j|" in message.value for message in everything.success)


def test_worked_cell_sum_equals_the_score(everything, user_analysis):
    i, j = 2, 4  # URL i=3, j=5 (1-based)
    terms = table_with_column(everything, "product")
    assert len(terms) == user_analysis.embeddings.shape[1]
    np.testing.assert_array_equal(terms["query x_3[k]"].to_numpy(), user_analysis.embeddings[i])
    np.testing.assert_array_equal(terms["key x_5[k]"].to_numpy(), user_analysis.embeddings[j])
    assert abs(terms["product"].sum() - user_analysis.scores[i, j]) <= 1e-5
    assert abs(terms["running sum"].iloc[-1] - user_analysis.scores[i, j]) <= 1e-5
    worked_latex = [latex for latex in latex_formulas(everything) if "S_{3,5} = x_{3} \\cdot x_{5} &=" in latex]
    worked = walkthrough.worked_score(user_analysis.embeddings, i, j)
    assert worked_latex and worked_latex[0].endswith(f"&= {walkthrough.format_number(worked.total)} \\end{{aligned}}")
    first_term = (f"{walkthrough.latex_number(user_analysis.embeddings[i, 0])} \\cdot "
                  f"{walkthrough.latex_number(user_analysis.embeddings[j, 0])}")
    assert first_term in worked_latex[0]
    # the chosen cell is boxed on the score heatmap
    shapes = figure_starting_with(everything, "Scores S")["layout"]["shapes"]
    assert shapes[0]["x0"] == j - 0.5 and shapes[0]["y0"] == i - 0.5
    softmax_row = table_with_column(everything, "weight A_ik")
    assert abs(softmax_row["weight A_ik"].iloc[j] - user_analysis.attention[i, j]) <= 1e-6


def test_proof_panel_passes_within_threshold(everything):
    proof = table_with_column(everything, "max |Keras − NumPy|")
    assert len(proof) == len(walkthrough.PROOF_LABELS)
    assert (proof["max |Keras − NumPy|"] <= walkthrough.PROOF_THRESHOLD).all()
    assert (proof.iloc[:, 2] == "✅ pass").all()
    assert any(message.value.startswith("PASS") for message in everything.success)
    assert not everything.error


def test_what_if_neutral_reproduces_the_probability_exactly(everything, user_analysis):
    metrics = {metric.label: metric.value for metric in everything.metric}
    real = walkthrough.format_number(user_analysis.probability, 6)
    assert metrics["Trained model (real): P(positive)"] == real
    assert metrics["At s = 1: P(positive)"] == real
    np.testing.assert_array_equal(z_values(figure_starting_with(everything, "Attention of the trained model")),
                                  user_analysis.attention)
    assert walkthrough.what_if(user_analysis, 1.0).probability == user_analysis.probability


def test_what_if_presets_are_labelled_hypothetical(user_analysis):
    app = run_page(text=USER_SENTENCE, step="5")
    app.button(key="_formula_scale_transformer").click().run()
    assert not app.exception
    scale = walkthrough.transformer_scale(user_analysis.embeddings.shape[1])
    expected = walkthrough.what_if(user_analysis, scale)
    metrics = {metric.label: metric.value for metric in app.metric}
    hypothetical = [label for label in metrics if label.startswith("Hypothetical at s = 0.125")]
    assert hypothetical and metrics[hypothetical[0]] == walkthrough.format_number(expected.probability, 6)
    assert metrics["Trained model (real): P(positive)"] == walkthrough.format_number(user_analysis.probability, 6)
    assert any("Hypothetical" in warning.value for warning in app.warning)
    np.testing.assert_allclose(z_values(figure_starting_with(app, "Hypothetical attention")), expected.attention)
    assert app.query_params["scale"] in ("0.125", ["0.125"])
    app.button(key="_formula_scale_trained").click().run()
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["At s = 1: P(positive)"] == walkthrough.format_number(user_analysis.probability, 6)
    assert "scale" not in app.query_params


def _parameter(app: AppTest, name: str) -> str:
    value = app.query_params[name]
    return value[0] if isinstance(value, list) else value


def test_url_state_round_trips(user_analysis):
    app = run_page(text=USER_SENTENCE, step="5", i="2", j="4")
    assert sum(header.startswith("Step 5.") for header in headers(app)) == 1
    assert app.selectbox(key="_formula_step_widget").value == 5
    assert app.selectbox(key="_formula_row_widget").value == 2
    assert app.selectbox(key="_formula_column_widget").value == 4
    assert any("A_{2,4} &=" in latex for latex in latex_formulas(app))

    app.button(key="_formula_next").click().run()
    assert _parameter(app, "step") == "6"
    app.selectbox(key="_formula_column_widget").set_value(7).run()
    assert _parameter(app, "j") == "7"
    app.button(key="_formula_previous").click().run()
    assert _parameter(app, "step") == "5"
    state = {name: _parameter(app, name) for name in ("text", "step", "i", "j")}
    assert state == {"text": USER_SENTENCE, "step": "5", "i": "2", "j": "7"}

    shared = run_page(**state)  # a teacher's shared link opens the same view
    assert shared.selectbox(key="_formula_step_widget").value == 5
    assert shared.selectbox(key="_formula_column_widget").value == 7
    assert any("A_{2,7} &=" in latex for latex in latex_formulas(shared))

    shared.toggle(key="_formula_show_all_widget").set_value(True).run()
    assert _parameter(shared, "step") == "all"
    assert run_page(text=USER_SENTENCE, step="all").toggle(key="_formula_show_all_widget").value


def test_changing_the_sentence_updates_text_and_clamps_the_cell():
    app = run_page(text=USER_SENTENCE, step="3", i="9", j="12")
    app.text_area(key="_formula_text_widget").set_value("truly awful").run()
    assert not app.exception
    assert _parameter(app, "text") == "truly awful"
    assert _parameter(app, "i") == "2" and _parameter(app, "j") == "2"   # clamped to the 2 tokens
    assert any("S_{2,2} = x_{2}" in latex for latex in latex_formulas(app))


@pytest.mark.parametrize("text", ["", "   ", "!!! ??? ...", "🙂🙂🙂"])
def test_unreadable_text_gives_a_message_not_an_exception(text):
    app = AppTest.from_file(PAGE, default_timeout=APP_TEST_TIMEOUT)
    app.query_params["text"] = text
    app.run()
    assert not app.exception
    messages = [item.value for item in [*app.info, *app.warning, *app.error]]
    assert any("no words the model can read" in message for message in messages), messages
    assert not app.get("plotly_chart")


def test_bad_url_parameters_fall_back_to_safe_values(model):
    app = run_page(text="a fine film", step="banana", i="-3", j="999", scale="nan")
    n = model.analyze("a fine film").n_tokens
    assert app.selectbox(key="_formula_step_widget").value == 1
    assert app.selectbox(key="_formula_row_widget").value == 1
    assert app.selectbox(key="_formula_column_widget").value == n
    assert app.number_input(key="_formula_scale_widget").value == 1.0


def test_hostile_text_is_shown_literally():
    hostile = "<img src=x onerror=alert(1)> **bold** $\\alpha$ | film"
    app = run_page(text=hostile, step="all")
    assert app.code[0].value == hostile            # shown in a code block, never as HTML/Markdown
    for markdown in app.markdown:
        assert "<img" not in markdown.value


def test_long_sentence_stays_readable(model):
    long_text = " ".join(["a slow but rewarding film with great acting"] * 40)
    analysis = model.analyze(long_text)
    app = run_page(text=long_text, step="all")
    assert any("reads only the first" in warning.value for warning in app.warning)
    scores = z_values(figure_starting_with(app, "Scores S"))
    limit = walkthrough.HEATMAP_MAX_TOKENS
    assert scores.shape == (limit, limit)
    np.testing.assert_array_equal(scores, analysis.scores[:limit, :limit])
    assert table_with_column(app, "x[1]").shape == (walkthrough.TABLE_MAX_TOKENS, walkthrough.TABLE_MAX_DIMENSIONS)
    assert any(f"of {analysis.n_tokens} tokens" in caption.value for caption in app.caption)


def test_classroom_mode_shows_fewer_numbers_in_bigger_type():
    app = run_page(text=USER_SENTENCE, step="2", classroom="1")
    embeddings = table_with_column(app, "x[1]")
    assert embeddings.shape[1] < walkthrough.TABLE_MAX_DIMENSIONS
    assert figure_starting_with(app, "Embeddings X")["layout"]["font"]["size"] > 13


def test_single_token_sentence_and_diagonal_cell(model):
    analysis = model.analyze("Boring.")
    app = run_page(text="Boring.", step="all", i="4", j="9", scale="3")
    assert not app.error, [message.value for message in app.error]
    assert _parameter(app, "i") == "1" and _parameter(app, "j") == "1"
    assert "Step 8. Proof: Keras versus NumPy" in headers(app)
    terms = table_with_column(app, "product")
    assert abs(terms["product"].sum() - analysis.scores[0, 0]) <= 1e-5
    np.testing.assert_array_equal(z_values(figure_starting_with(app, "Attention A")), [[1.0]])
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Trained model (real): P(positive)"] == walkthrough.format_number(analysis.probability, 6)
    # with one token every scale gives the same (uniform) attention, hence the same probability
    hypothetical = [value for label, value in metrics.items() if label.startswith("Hypothetical at s = 3")]
    assert hypothetical and abs(float(hypothetical[0]) - analysis.probability) <= 1e-6
