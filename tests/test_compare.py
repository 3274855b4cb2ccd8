"""Unit tests of attnviz.compare (plain functions) and the compare figure builders, against the real model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnviz import compare, figures
from attnviz.errors import AttnvizError

SENTENCE = "A gorgeous, witty film that never feels long."


# ----- summaries -----------------------------------------------------------------------------------------
def test_entropy_of_uniform_rows_is_log2_n_and_of_one_hot_rows_is_zero():
    assert compare.attention_entropy(np.full((4, 4), 0.25)) == pytest.approx(2.0)
    assert compare.attention_entropy(np.eye(5)) == pytest.approx(0.0)
    mixed = np.array([[0.5, 0.5], [1.0, 0.0]])
    assert compare.attention_entropy(mixed) == pytest.approx(0.5)  # rows: 1 bit and 0 bits


def test_entropy_rejects_non_square_matrix():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        compare.attention_entropy(np.ones((2, 3)) / 3)


def test_summary_table_matches_each_analysis(model):
    analyses = [model.analyze(SENTENCE), model.analyze("a dull qwertyuiop film")]
    table = compare.summary_table(analyses)
    assert list(table.index) == ["A", "B"]
    for name, analysis in zip(["A", "B"], analyses):
        row = table.loc[name]
        assert row["P(positive)"] == pytest.approx(analysis.probability)
        assert row["logit"] == pytest.approx(analysis.logit)
        assert row["label"] == analysis.label
        assert row["most attended token"] == analysis.tokens[int(np.argmax(analysis.received))]
        assert row["its W_j"] == pytest.approx(analysis.received.max())
        assert row["tokens"] == analysis.n_tokens
        assert row["unknown words"] == int(analysis.oov.sum())
        assert 0.0 <= row["attention entropy (bits)"] <= math.log2(analysis.n_tokens) + 1e-9
    assert table.loc["B", "unknown words"] == 1  # the made-up word


def test_shared_color_maximum_is_the_largest_weight_of_all_inputs(model):
    analyses = [model.analyze(SENTENCE), model.analyze("bad"), model.analyze("not bad at all")]
    assert compare.shared_color_maximum(analyses) == max(float(a.attention.max()) for a in analyses)
    assert compare.shared_color_maximum([model.analyze("bad")]) == pytest.approx(1.0)  # one token attends to itself


def test_difference_is_b_minus_a_and_unequal_shapes_name_both_sizes(model):
    first, second = model.analyze("a good film"), model.analyze("a bad film")
    difference = compare.attention_difference(first.attention, second.attention)
    np.testing.assert_array_equal(difference, second.attention - first.attention)
    np.testing.assert_allclose(difference.sum(axis=1), 0.0, atol=1e-6)  # both have rows summing to 1
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(2, 2\)"):
        compare.attention_difference(first.attention, model.analyze("bad film").attention)


# ----- alignment ---------------------------------------------------------------------------------------------
def test_alignment_pairs_a_replaced_word_with_its_replacement():
    slots = compare.align_tokens(["a", "good", "film"], ["a", "bad", "film"])
    assert [(s.position_a, s.position_b, s.operation) for s in slots] == [
        (0, 0, "equal"), (1, 1, "replace"), (2, 2, "equal")]


def test_alignment_leaves_gaps_for_inserted_and_deleted_words():
    slots = compare.align_tokens(["not", "bad", "at", "all"], ["bad", "at", "all", "really"])
    assert [(s.position_a, s.position_b) for s in slots] == [(0, None), (1, 0), (2, 1), (3, 2), (None, 3)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list("abcde")), max_size=12), st.lists(st.sampled_from(list("abcdef")), max_size=12))
def test_alignment_uses_every_position_once_in_order(tokens_a, tokens_b):
    slots = compare.align_tokens(tokens_a, tokens_b)
    assert [s.position_a for s in slots if s.position_a is not None] == list(range(len(tokens_a)))
    assert [s.position_b for s in slots if s.position_b is not None] == list(range(len(tokens_b)))
    assert all(s.position_a is not None or s.position_b is not None for s in slots)
    for slot in slots:
        if slot.operation == "equal":
            assert tokens_a[slot.position_a] == tokens_b[slot.position_b]


def test_aligned_received_carries_each_inputs_weights(model):
    first, second = model.analyze("not bad at all"), model.analyze("bad at all, really")
    aligned = compare.aligned_received(first, second)
    assert list(aligned["token A"]) == ["not", "bad", "at", "all", ""]
    assert list(aligned["token B"]) == ["", "bad", "at", "all", "really"]
    np.testing.assert_allclose(aligned["W_j A"].dropna(), first.received)
    np.testing.assert_allclose(aligned["W_j B"].dropna(), second.received)
    assert np.isnan(aligned["W_j B"][0]) and np.isnan(aligned["W_j A"][4])


# ----- quick edits -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    SENTENCE, "Don't watch it!!! It's a 10/10... NOT.", "  spaces   everywhere  ", "l'été était très beau",
    "电影很好看 but long", "émoji 😀 mid-word", "'quoted' words ''", "tab\tseparated\nlines",
    "I ❤️ it", "keycap 1️⃣ x", "ok\ufe0f ok",  # emoji marks: dropped by the tokeniser, so no span either
])
def test_word_spans_are_exactly_the_models_tokens(model, text):
    tokens, _ids = model.tokenize(text)
    assert [compare.span_word(text, span) for span in compare.word_spans(text)] == tokens


def test_remove_and_replace_keep_the_rest_of_the_text():
    assert compare.remove_word(SENTENCE, 1) == "A , witty film that never feels long."
    assert compare.remove_word(SENTENCE, 0) == "gorgeous, witty film that never feels long."
    assert compare.remove_word("a good film", 2) == "a good"
    assert compare.replace_word(SENTENCE, 1, " dreary ") == "A dreary, witty film that never feels long."
    with pytest.raises(ValueError, match=r"position 8 .* 8 words"):
        compare.remove_word(SENTENCE, 8)
    with pytest.raises(ValueError, match="empty"):
        compare.replace_word(SENTENCE, 0, "   ")


def test_negate_inserts_after_an_auxiliary_or_at_the_start_and_toggles_back():
    assert compare.negate("The film is good.") == "The film is not good."
    assert compare.negate("Great film") == "Not great film"
    assert compare.negate("it was not good") == "it was good"
    assert compare.negate(compare.negate("The film is good.")) == "The film is good."
    assert compare.negate("I loved it") == "not I loved it"


def test_opposite_variant_keeps_the_token_count_when_it_knows_an_opposite(model):
    variant = compare.opposite_variant("a good film")
    assert variant == "a bad film"
    assert model.analyze(variant).n_tokens == model.analyze("a good film").n_tokens
    assert compare.opposite_variant("the film is long") == "the film is not long"


# ----- occlusion and rank correlation ------------------------------------------------------------------------
def test_spearman_matches_hand_computed_cases():
    assert compare.spearman_correlation([1, 2, 3, 4], [10, 20, 30, 400]) == pytest.approx(1.0)
    assert compare.spearman_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties get average ranks: x ranks 1, 2.5, 2.5, 4 against y ranks 1, 2, 3, 4
    expected = np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3, 4])[0, 1]
    assert compare.spearman_correlation([1, 5, 5, 9], [1, 2, 3, 4]) == pytest.approx(expected)
    assert math.isnan(compare.spearman_correlation([1, 1, 1], [1, 2, 3]))
    assert math.isnan(compare.spearman_correlation([1, 2], [1, 2]))
    with pytest.raises(ValueError, match=r"3 values .* 2"):
        compare.spearman_correlation([1, 2, 3], [1, 2])


def test_spearman_agrees_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    generator = np.random.default_rng(0)
    for _ in range(20):
        x = generator.integers(0, 5, size=12).astype(float)
        y = x + generator.normal(size=12)
        assert compare.spearman_correlation(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


def test_occlusion_equals_rerunning_analyze_on_the_edited_text(model):
    analysis = model.analyze(SENTENCE)
    table = compare.occlusion_table(model, analysis)
    assert list(table["token"]) == analysis.tokens
    np.testing.assert_allclose(table["received W_j"], analysis.received)
    np.testing.assert_allclose(table["contribution"], analysis.contributions)
    for position in range(analysis.n_tokens):
        edited = compare.remove_word(SENTENCE, position)
        assert table["text without it"][position] == edited
        rerun = model.analyze(edited)
        assert rerun.n_tokens == analysis.n_tokens - 1
        assert table["P without it"][position] == pytest.approx(rerun.probability, abs=1e-6)
        assert table["occlusion effect"][position] == pytest.approx(analysis.probability - rerun.probability,
                                                                    abs=1e-6)


def test_occlusion_of_a_single_word_is_undefined_and_long_texts_are_refused(model):
    single = compare.occlusion_table(model, model.analyze("great"))
    assert len(single) == 1 and math.isnan(single["occlusion effect"][0])
    with pytest.raises(ValueError, match="up to 5 words; this one has 8"):
        compare.occlusion_table(model, model.analyze(SENTENCE), max_tokens=5)


def test_explanation_correlations_use_absolute_effect_for_attention(model):
    table = compare.occlusion_table(model, model.analyze(SENTENCE))
    correlations = compare.explanation_correlations(table)
    assert correlations["received_vs_occlusion_size"] == pytest.approx(
        compare.spearman_correlation(table["received W_j"], table["occlusion effect"].abs()))
    assert correlations["contribution_vs_occlusion"] == pytest.approx(
        compare.spearman_correlation(table["contribution"], table["occlusion effect"]))
    assert all(-1.0 <= value <= 1.0 for value in correlations.values())


# ----- batch -------------------------------------------------------------------------------------------------
def test_read_csv_with_mixed_label_formats_bom_and_case_insensitive_columns():
    data = "\ufeffText,Label\ngreat film,1\nawful,neg\n\"fine, really\",Positive\nmeh,\n".encode()
    frame = compare.read_batch_csv(data)
    assert list(frame["text"]) == ["great film", "awful", "fine, really", "meh"]
    assert frame["label"].tolist()[:3] == [1, 0, 1] and pd.isna(frame["label"][3])


def test_read_csv_semicolon_and_text_only():
    assert list(compare.read_batch_csv(b"text;label\na;0\nb;1\n")["label"]) == [0, 1]
    frame = compare.read_batch_csv(b"text\nhello there\n")
    assert list(frame.columns) == ["text"] and frame["text"][0] == "hello there"


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"text,label\n", "no rows"),
    (b"review,sentiment\ngood,1\n", "column named 'text'.*'review', 'sentiment'"),
    ("text\ncaf\xe9 cr\xe8me\n".encode("latin-1"), "not UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL bytes"),
    (b"text,label\ngood,1\nbad,maybe\n", "Row 2 has the label 'maybe'"),
    (b'text,label\n"unclosed,1\n', "could not be read as CSV|no rows"),
])
def test_read_csv_rejects_bad_files_with_clear_messages(data, message):
    with pytest.raises(compare.BatchInputError, match=message) as caught:
        compare.read_batch_csv(data)
    assert isinstance(caught.value, AttnvizError) and isinstance(caught.value, ValueError)


def test_read_csv_limits_size_and_rows():
    with pytest.raises(compare.BatchInputError, match="limit is"):
        compare.read_batch_csv(b"text\n" + b"x" * 2000, max_bytes=1000)
    with pytest.raises(compare.BatchInputError, match="11 rows; the limit is 10"):
        compare.read_batch_csv(("text\n" + "a\n" * 11).encode(), max_rows=10)
    assert len(compare.read_batch_csv(("text\n" + "a\n" * 10).encode(), max_rows=10)) == 10


def test_read_csv_accepts_utf16_with_bom():
    frame = compare.read_batch_csv("text,label\nsuper,pos\n".encode("utf-16"))
    assert frame["text"][0] == "super" and frame["label"][0] == 1


def test_pasted_lines_skip_blank_lines_and_enforce_limits():
    frame = compare.read_pasted_lines("good film\n\n  bad film  \r\n")
    assert list(frame["text"]) == ["good film", "bad film"]
    with pytest.raises(compare.BatchInputError, match="empty"):
        compare.read_pasted_lines(" \n \n")
    with pytest.raises(compare.BatchInputError, match="3 rows; the limit is 2"):
        compare.read_pasted_lines("a\nb\nc", max_rows=2)


def test_predict_batch_matches_analyze_handles_unreadable_rows_and_reports_progress(model):
    texts = ["a wonderful film", "!!!", "the worst film ever", "a film " * 200]
    progress: list[tuple[int, int]] = []
    results = compare.predict_batch(model, texts, [1, 1, 1, None], batch_size=2,
                                    progress_callback=lambda done, total: progress.append((done, total)))
    assert progress == [(2, 4), (4, 4)]
    assert list(results["row"]) == [1, 2, 3, 4]
    for row, text in enumerate(texts):
        if row == 1:
            assert pd.isna(results["prediction"][row]) and results["note"][row] == "no readable words"
            assert pd.isna(results["correct"][row])
            continue
        analysis = model.analyze(text)
        assert results["P(positive)"][row] == pytest.approx(analysis.probability, abs=1e-6)
        assert results["prediction"][row] == analysis.label
        assert results["top attended token"][row] == analysis.tokens[int(np.argmax(analysis.received))]
    assert results["note"][3] == "read the first 256 of 400 words"
    assert pd.isna(results["correct"][3])  # no label
    accuracy, count = compare.batch_accuracy(results)
    assert count == 2  # rows 1 and 3 are labelled positive and have a prediction
    assert accuracy == pytest.approx(np.mean([results["prediction"][row] == "positive" for row in (0, 2)]))


def test_batch_without_labels_has_no_accuracy(model):
    results = compare.predict_batch(model, ["good", "bad"])
    assert "correct" not in results.columns and compare.batch_accuracy(results) is None


# ----- figures -----------------------------------------------------------------------------------------------
def test_difference_heatmap_is_centred_at_zero_with_pair_labels(model):
    # "<b>bad</b>" is read as the tokens "b bad b", so both inputs have 5 tokens
    first, second = model.analyze("a very good film indeed"), model.analyze("a <b>bad</b> film")
    difference = compare.attention_difference(first.attention, second.attention)
    figure = figures.difference_heatmap(first, second, difference)
    trace = figure.data[0]
    assert trace.zmid == 0 and trace.zmin == -trace.zmax
    assert trace.zmax == pytest.approx(np.abs(difference).max())
    np.testing.assert_allclose(np.array(trace.z), difference)
    assert figure.layout.xaxis.ticktext[0] == "a" and figure.layout.xaxis.ticktext[1] == "very → b"
    with pytest.raises(ValueError, match="A has 5 tokens, B has 3"):
        figures.difference_heatmap(first, model.analyze("a good film"), difference)


def test_aligned_bars_leave_gaps_and_escape_tokens(model):
    first, second = model.analyze("good film"), model.analyze("good <i> film")
    figure = figures.aligned_received_bars(compare.aligned_received(first, second))
    assert list(figure.layout.xaxis.ticktext) == ["good", "· → i", "film"]
    assert figure.data[0].y[1] is None and figure.data[1].y[1] == pytest.approx(second.received[1])
    hostile = compare.aligned_received(model.analyze("good film"), model.analyze("good film"))
    hostile.loc[0, "token A"] = hostile.loc[0, "token B"] = "<script>"
    assert figures.aligned_received_bars(hostile).layout.xaxis.ticktext[0] == "&lt;script&gt;"


def test_batch_and_occlusion_work_with_the_language_routing_model(model):
    import attnviz

    auto = attnviz.load_model("auto")
    results = compare.predict_batch(auto, ["a good film", "…", "awful"])
    assert list(results["note"]) == ["", "no readable words", ""]
    assert results["P(positive)"][2] == pytest.approx(model.analyze("awful").probability, abs=1e-6)
    table = compare.occlusion_table(auto, auto.analyze("a good film"))
    assert table["P without it"][1] == pytest.approx(model.analyze("a film").probability, abs=1e-6)
