"""Unit tests of attnviz.walkthrough against the shipped model's analyses (NumPy only, no Streamlit)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as strategies
from hypothesis.extra import numpy as numpy_strategies

from attnviz import formula, walkthrough

SENTENCES = [
    "A gorgeous, witty film that never feels long.",
    "not bad at all, not bad at all",                      # repeated words
    "the plot was zxqvw and blorptastic",                   # unknown words
    "Boring.",                                             # a single token
]
LONG_SENTENCE = " ".join(["a slow but rewarding film with great acting"] * 40)  # 320 tokens, truncated


@pytest.fixture(scope="module", params=[*SENTENCES, LONG_SENTENCE])
def analysis(request, model):
    return model.analyze(request.param)


def test_worked_score_equals_model_score_for_every_cell(analysis):
    n = analysis.n_tokens
    for i in range(min(n, 6)):
        for j in range(min(n, 6)):
            worked = walkthrough.worked_score(analysis.embeddings, i, j)
            assert worked.products.shape == (analysis.embeddings.shape[1],)
            assert worked.total == pytest.approx(float(np.dot(analysis.embeddings[i], analysis.embeddings[j])),
                                                 abs=1e-12)
            assert abs(worked.total - analysis.scores[i, j]) <= 1e-5
            assert worked.table()["product"].sum() == pytest.approx(worked.total, abs=1e-12)
            assert worked.table()["running sum"].iloc[-1] == pytest.approx(worked.total, abs=1e-12)


def test_worked_score_latex_shows_first_terms_dots_last_term_and_total(model):
    analysis = model.analyze(SENTENCES[0])
    worked = walkthrough.worked_score(analysis.embeddings, 1, 3)
    latex = worked.latex("x_2", "x_4", "S_{2,4}")
    assert latex.startswith(r"S_{2,4} = x_2 \cdot x_4 = ")
    assert latex.count(r"\cdot") == 1 + walkthrough.LEADING_TERMS + 1   # the name + shown terms + the last term
    assert r"\dots" in latex
    assert latex.endswith(f"= {walkthrough.format_number(worked.total)}")
    first_term = (f"{walkthrough.latex_number(analysis.embeddings[1, 0])} \\cdot "
                  f"{walkthrough.latex_number(analysis.embeddings[3, 0])}")
    assert first_term in latex


def test_worked_score_rejects_cells_outside_the_matrix(model):
    analysis = model.analyze(SENTENCES[0])
    n = analysis.n_tokens
    with pytest.raises(ValueError, match=f"{n}×{n}"):
        walkthrough.worked_score(analysis.embeddings, n, 0)


def test_worked_table_columns_stay_distinct_on_the_diagonal(model):
    analysis = model.analyze(SENTENCES[0])
    table = walkthrough.worked_score(analysis.embeddings, 2, 2).table("query x_3[k]", "key x_3[k]")
    assert list(table.columns) == ["dimension k", "query x_3[k]", "key x_3[k]", "product", "running sum"]
    with pytest.raises(ValueError, match="different names"):
        walkthrough.worked_score(analysis.embeddings, 2, 2).table("x", "x")


def test_worked_dot_product_names_both_lengths():
    with pytest.raises(ValueError, match="3 and 4"):
        walkthrough.worked_dot_product(np.ones(3), np.ones(4))


def test_worked_softmax_matches_model_attention(analysis):
    n = analysis.n_tokens
    for i, j in {(0, 0), (0, n - 1), (n - 1, 0), (n // 2, n // 3)}:
        worked = walkthrough.worked_softmax(analysis.scores, i, j)
        assert worked.weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert worked.row_maximum == pytest.approx(float(analysis.scores[i].max()))
        assert worked.exponentials.max() == pytest.approx(1.0)
        assert worked.weight == pytest.approx(worked.exponentials[j] / worked.row_sum)
        assert abs(worked.weight - analysis.attention[i, j]) <= 1e-6
        assert worked.latex().endswith(walkthrough.format_number(worked.weight))
        exponential = worked.exponential_latex()
        assert f"= {walkthrough.format_number(worked.exponentials[j])}" in exponential
        assert exponential.endswith(f"= {walkthrough.format_number(worked.row_sum)} \\end{{aligned}}")


def test_worked_softmax_rejects_non_square_scores():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        walkthrough.worked_softmax(np.zeros((2, 3)), 0, 0)


def test_what_if_at_scale_one_is_exactly_the_trained_model(analysis):
    result = walkthrough.what_if(analysis, 1.0)
    assert result.is_trained_model
    assert result.probability == analysis.probability          # exactly, not approximately
    assert result.logit == analysis.logit
    assert result.probability_change == 0.0
    np.testing.assert_array_equal(result.attention, analysis.attention)
    np.testing.assert_array_equal(result.received, analysis.received)


def test_what_if_other_scales_are_the_numpy_computation_and_hypothetical(analysis):
    d = analysis.embeddings.shape[1]
    for scale in (0.0, walkthrough.transformer_scale(d), 0.5, 2.0, 5.0):
        result = walkthrough.what_if(analysis, scale)
        steps = formula.compute_steps(analysis.embeddings, analysis.classifier_weights, analysis.bias, scale=scale)
        assert not result.is_trained_model
        assert result.trained_probability == analysis.probability
        assert result.probability == pytest.approx(steps.probability, abs=0)
        np.testing.assert_allclose(result.attention.sum(axis=1), 1.0, atol=1e-12)
    flat = walkthrough.what_if(analysis, 0.0)
    np.testing.assert_allclose(flat.attention, 1.0 / analysis.n_tokens, atol=1e-12)   # s = 0: uniform
    assert flat.mean_largest_weight == pytest.approx(flat.uniform_weight)


def test_what_if_sharpness_grows_with_the_scale(model):
    analysis = model.analyze(SENTENCES[0])
    sharpness = [walkthrough.what_if(analysis, scale).mean_largest_weight for scale in (0.0, 0.125, 0.5, 1.0, 3.0)]
    assert sharpness == sorted(sharpness)
    assert walkthrough.what_if(analysis, 1.0).mean_largest_weight == pytest.approx(
        walkthrough.what_if(analysis, 1.0 + 1e-12).mean_largest_weight, abs=1e-6)  # float32 rounding


def test_transformer_scale():
    assert walkthrough.transformer_scale(64) == 0.125
    with pytest.raises(ValueError):
        walkthrough.transformer_scale(0)


def test_proof_rows_all_pass_within_threshold(analysis):
    rows = walkthrough.proof_rows(analysis)
    assert {row.quantity for row in rows} == set(walkthrough.PROOF_LABELS.values())
    for row in rows:
        assert row.passed, row
        assert 0.0 <= row.max_abs_difference <= walkthrough.PROOF_THRESHOLD
    table = walkthrough.proof_table(rows)
    assert list(table.iloc[:, 2]) == ["✅ pass"] * len(rows)


def test_proof_rows_fail_when_the_model_numbers_are_wrong(model):
    import dataclasses

    analysis = model.analyze(SENTENCES[0])
    tampered = dataclasses.replace(analysis, probability=analysis.probability + 1e-3)
    rows = {row.quantity: row for row in walkthrough.proof_rows(tampered)}
    assert not rows[walkthrough.PROOF_LABELS["probability"]].passed
    assert rows[walkthrough.PROOF_LABELS["attention"]].passed
    verdict = walkthrough.proof_verdict(list(rows.values()))
    assert not verdict.passed
    assert verdict.failed_quantities == [walkthrough.PROOF_LABELS["probability"]]
    assert verdict.largest_difference == pytest.approx(1e-3, rel=1e-3)
    assert walkthrough.proof_verdict(walkthrough.proof_rows(analysis)).passed


def test_unknown_count(model):
    assert walkthrough.unknown_count(model.analyze("the plot was zxqvw and blorptastic")) == 2
    assert walkthrough.unknown_count(model.analyze(SENTENCES[0])) == 0


def test_pooling_equals_received_weighted_sum_of_embeddings(analysis):
    check = walkthrough.pooling_check(analysis)
    assert check.max_abs_difference <= 1e-6
    assert check.received_total == pytest.approx(1.0, abs=1e-6)
    table = check.table(5)
    assert table.shape == (2, min(5, analysis.embeddings.shape[1]))
    np.testing.assert_array_equal(table.iloc[0].to_numpy(), analysis.pooled[:5])


def test_logit_split_adds_up_to_the_logit(analysis):
    split = walkthrough.logit_split(analysis)
    assert split.total == pytest.approx(split.bias + split.contributions_total, abs=1e-12)
    assert abs(split.total - analysis.logit) <= 1e-5
    assert abs(split.sigmoid_of_total - analysis.probability) <= 1e-5


def test_row_sums_and_maxima():
    matrix = np.array([[1.0, 2.0, -3.0], [0.5, 0.25, 0.25]])
    np.testing.assert_array_equal(walkthrough.row_sums(matrix), [0.0, 1.0])
    np.testing.assert_array_equal(walkthrough.row_maxima(matrix), [2.0, 0.5])
    with pytest.raises(ValueError, match="2-D"):
        walkthrough.row_sums(np.ones(3))


def test_tables_keep_exact_values_and_truncate(analysis):
    n, d = analysis.n_tokens, analysis.embeddings.shape[1]
    table = walkthrough.matrix_table(analysis.embeddings, analysis.token_labels,
                                     walkthrough.dimension_labels("x", d), 4, 3)
    assert table.shape == (min(n, 4), 3)
    np.testing.assert_array_equal(table.to_numpy(), analysis.embeddings[:4, :3])
    assert list(table.index) == analysis.token_labels[:4]           # unique labels even for repeated words
    tokens = walkthrough.token_table(analysis)
    assert list(tokens["token"]) == analysis.tokens
    assert list(tokens["id"]) == analysis.token_ids.tolist()
    assert (tokens["in vocabulary"] != "yes").sum() == analysis.oov.sum()
    split = walkthrough.token_split_table(analysis)
    np.testing.assert_array_equal(split["contribution W_j (w·x_j)"].to_numpy(), analysis.contributions)


def test_matrix_table_names_both_sizes():
    with pytest.raises(ValueError, match=r"\(2, 2\).*3 row labels.*2 column labels"):
        walkthrough.matrix_table(np.zeros((2, 2)), ["a", "b", "c"], ["x", "y"])


def test_truncation_note():
    assert walkthrough.truncation_note(5, 64, 12, 64) is None
    note = walkthrough.truncation_note(300, 64, 12, 8)
    assert "first 12 of 300 tokens" in note and "first 8 of 64 dimensions" in note


@pytest.mark.parametrize(("raw", "expected"), [
    (None, 1), ("3", 3), (" 8 ", 8), ("all", "all"), ("ALL", "all"), ("0", 1), ("9", 1), ("-2", 1),
    ("abc", 1), ("2.5", 1), ("", 1)])
def test_parse_step(raw, expected):
    assert walkthrough.parse_step(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    (None, 2), ("1", 1), ("5", 5), ("99", 5), ("0", 1), ("-4", 1), ("x", 2), ("1e9", 2)])
def test_parse_position_clamps(raw, expected):
    assert walkthrough.parse_position(raw, 5, default=2) == expected


def test_parse_position_needs_tokens():
    with pytest.raises(ValueError, match="at least 1"):
        walkthrough.parse_position("1", 0)


@pytest.mark.parametrize(("raw", "expected"), [
    (None, 1.0), ("0.125", 0.125), ("2", 2.0), ("-1", 0.0), ("1e9", 10.0), ("nan", 1.0), ("inf", 1.0),
    ("abc", 1.0)])
def test_parse_scale(raw, expected):
    assert walkthrough.parse_scale(raw) == expected


def test_number_formatting():
    assert walkthrough.format_number(0.123456) == "0.1235"
    assert walkthrough.format_number(-2.0, 2) == "-2.00"
    assert walkthrough.format_number(0.0) == "0.0000"
    assert "e" in walkthrough.format_number(3e-9)
    assert walkthrough.latex_number(-0.5) == "(-0.5000)"
    assert walkthrough.latex_number(2e-8) == r"2.000 \times 10^{-8}"


def test_latex_and_markdown_escaping():
    assert walkthrough.latex_text(r"a_b {x} $5 & #1 \cmd") == r"a\_b \{x\} \$5 \& \#1 \textbackslash{}cmd"
    cell = walkthrough.markdown_cell("a | b <script> *x* [l](u)")
    assert "|" not in cell.replace("\\|", "")
    assert "<script>" not in cell
    assert "\\*x\\*" in cell


def test_markdown_export_has_every_step_and_the_real_numbers(model):
    analysis = model.analyze("a | <b>bold</b> film, not $bad$ at all")
    exported = walkthrough.markdown_export(analysis, 1, 2)
    for step in walkthrough.STEPS:
        assert f"## {step.number}. {step.title}" in exported
        assert step.latex in exported
    assert exported.count("$$") % 2 == 0
    assert "<b>" not in exported                                   # user text is escaped
    assert walkthrough.format_number(analysis.probability, 6) in exported
    worked = walkthrough.worked_score(analysis.embeddings, 1, 2)
    assert f"= {walkthrough.format_number(worked.total)}" in exported
    assert "What if" not in exported
    assert exported.count("✅ pass") == len(walkthrough.PROOF_LABELS)
    with_what_if = walkthrough.markdown_export(analysis, 1, 2, scale=0.125)
    assert "hypothetical" in with_what_if
    assert walkthrough.format_number(walkthrough.what_if(analysis, 0.125).probability, 6) in with_what_if


def test_markdown_export_truncates_long_sentences(model):
    analysis = model.analyze(LONG_SENTENCE)
    exported = walkthrough.markdown_export(analysis, analysis.n_tokens - 1, 0, max_tokens=5, max_dimensions=4)
    assert f"first 5 of {analysis.n_tokens} tokens" in exported
    assert len(exported) < 40_000
    assert math.isfinite(analysis.probability)


@settings(max_examples=60, deadline=None)
@given(numpy_strategies.arrays(np.float64, numpy_strategies.array_shapes(min_dims=2, max_dims=2, min_side=1,
                                                                         max_side=9),
                               elements=strategies.floats(-50, 50)),
       strategies.data())
def test_worked_examples_on_arbitrary_embeddings(embeddings, data):
    """Any (n, d) embeddings: the worked sum is the dot product and the worked softmax is a finite distribution
    equal to formula.compute_steps, even with large scores (exp overflow is avoided)."""
    n = embeddings.shape[0]
    i = data.draw(strategies.integers(0, n - 1))
    j = data.draw(strategies.integers(0, n - 1))
    worked = walkthrough.worked_score(embeddings, i, j)
    assert worked.total == pytest.approx(float(embeddings[i] @ embeddings[j]), rel=1e-9, abs=1e-9)
    scores = formula.dot_product_scores(embeddings)
    softmax = walkthrough.worked_softmax(scores, i, j)
    assert np.all(np.isfinite(softmax.weights))
    assert softmax.weights.sum() == pytest.approx(1.0)
    steps = formula.compute_steps(embeddings, np.ones(embeddings.shape[1]), 0.0)
    np.testing.assert_allclose(softmax.weights, steps.attention[i], atol=1e-12)
    assert "\\dots" in worked.latex(multiline=True) or embeddings.shape[1] <= walkthrough.LEADING_TERMS + 1
