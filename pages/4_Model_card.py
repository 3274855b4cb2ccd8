"""Model card: what the selected model was trained on, how good it is on held-out data, and its limits.

This page reads ``metrics.json`` and the numbers from ``attnviz.model_card`` (a fresh evaluation on the test
split) and draws them; it computes nothing itself.
"""

from __future__ import annotations

import streamlit as st

from attnviz import figures, model_card, ui
from attnviz.errors import AttnvizError
from attnviz.model import DEFAULT_MODEL_NAME

PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"filename": "attnviz-model-card"}}
# Two accuracies are "the same" when they agree to this many decimals (float32 vs float64 rounding).
ACCURACY_TOLERANCE = 1e-9

LIMITS = """
- **Only texts like its training data**: {source}. Other kinds of text, other languages or other topics
  are outside what it has seen (the shipped English model read one- or two-sentence film-review snippets).
- **Two classes**: it outputs P(positive). There is no "neutral" and no "mixed"; a P near 0.5 means unsure.
- **Words it never saw are unknown** (`[UNK]`): they all share one embedding, marked ⁽?⁾ on the Explore page.
- **Texts are cut to the first {max_tokens} tokens.**
- **Unscaled, single-head self-attention without position information**: the scores are raw dot products
  x_i·x_j (no 1/√d scaling, no learned query/key/value projections), so word order matters only through
  which words are present. "not good" and "good, not" read the same way.
- **Attention is not an explanation by itself**: the weights show what each word mixes in, and the
  contributions show how that reaches the prediction; neither proves *why* the data made it so.
- **It learns the biases of its data** (critics' vocabulary, film names, actors). Do not use it to judge people
  or to make decisions; it is a teaching tool.
"""


@st.cache_resource(show_spinner="Evaluating the model on its test split (once per model)…", max_entries=8)
def cached_card(model_name: str) -> model_card.ModelCard:
    """The card of ``model_name`` (fresh evaluation; cached per server because the model never changes)."""
    return model_card.card_for_model(ui.get_model(model_name))


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"


def show_dataset(card: model_card.ModelCard, metrics: dict, font_size: int) -> None:
    st.header("Dataset")
    st.markdown(f"**Source:** {ui.markdown_safe(card.source)}  \n**Licence:** {ui.markdown_safe(card.licence)}")
    columns = st.columns(4)
    columns[0].metric("Texts", f"{card.n_examples:,}")
    columns[1].metric("Negative", f"{card.class_counts['negative']:,}",
                      help=f"{card.class_counts['negative'] / max(card.n_examples, 1):.1%} of the texts")
    columns[2].metric("Positive", f"{card.class_counts['positive']:,}",
                      help=f"{card.class_counts['positive'] / max(card.n_examples, 1):.1%} of the texts")
    columns[3].metric("Vocabulary", f"{card.vocabulary_size:,}",
                      help="Distinct tokens the model has an embedding for, including padding and [UNK].")
    split_rows = [{"split": name, "texts": card.split_sizes[name],
                   "negative": card.split_class_counts[name]["negative"],
                   "positive": card.split_class_counts[name]["positive"]}
                  for name in ("train", "validation", "test")]
    left, right = st.columns([2, 3])
    with left:
        st.subheader("Splits")
        st.dataframe(split_rows, hide_index=True, width="stretch")
        split_seed = metrics.get("split", {}).get("seed")
        st.caption("Stratified 80 / 10 / 10 split by label" + (f", seed {split_seed}" if split_seed else "")
                   + ". Epochs and the baseline's C were chosen on validation; test was used only for the report.")
    with right:
        st.subheader("Tokens per text")
        st.plotly_chart(figures.token_length_histogram_figure(card.token_length_edges, card.token_length_counts,
                                                               max_tokens=card.max_tokens, font_size=font_size),
                        config=PLOTLY_CONFIG, key="card_token_lengths")
        st.caption(f"Median {card.token_length_median:g} tokens, longest {card.token_length_max}; "
                   f"{card.fraction_truncated:.2%} of the texts are longer than the {card.max_tokens} tokens "
                   "the model reads.")


def show_quality(card: model_card.ModelCard, metrics: dict, font_size: int) -> None:
    st.header("Quality on the held-out test split")
    recorded = metrics.get("test_accuracy")
    baseline = metrics.get("baseline", {})
    columns = st.columns(3)
    columns[0].metric("Test accuracy (metrics.json)", percent(recorded))
    columns[1].metric("Test accuracy (evaluated now)", percent(card.test_accuracy),
                      help="The model re-run on the test split when this page was first opened on the server.")
    columns[2].metric("Baseline (TF-IDF + logistic regression)", percent(baseline.get("test_accuracy")),
                      delta=None if recorded is None or baseline.get("test_accuracy") is None
                      else f"{(recorded - baseline['test_accuracy']) * 100:+.2f} points for attention",
                      delta_color="normal",
                      help=f"{baseline.get('name', 'A classic bag-of-words model')} on the same split, C chosen on "
                           "validation: the bar a neural model should reach.")
    if baseline.get("test_accuracy") is None:
        st.caption("This model's metrics.json records no baseline (it was trained without one).")
    if recorded is not None and abs(recorded - card.test_accuracy) > ACCURACY_TOLERANCE:
        st.warning("The accuracy evaluated now differs from the one recorded in metrics.json: the model file or "
                   "the corpus changed after training. Retrain with `python -m attnviz train`.")
    recorded_matrix = metrics.get("confusion_matrix", {}).get("matrix")
    left, right = st.columns(2)
    with left:
        st.subheader("Confusion matrix (test)")
        st.plotly_chart(figures.confusion_matrix_figure(card.confusion_matrix, font_size=font_size),
                        config=PLOTLY_CONFIG, key="card_confusion")
        st.caption("Rows: the true label; columns: what the model predicted (P ≥ 0.5 → positive)."
                   + ("" if recorded_matrix in (None, card.confusion_matrix)
                      else " ⚠️ differs from the matrix in metrics.json."))
    with right:
        st.subheader("Calibration (test)")
        st.plotly_chart(figures.calibration_figure(card.calibration, font_size=font_size),
                        config=PLOTLY_CONFIG, key="card_calibration")
        st.caption("When the model says P = 0.8, are 80 % of those texts positive? Points on the dotted diagonal "
                   "mean yes. Expected calibration error: "
                   f"{card.calibration['expected_calibration_error']:.3f}.")
    curves = metrics.get("curves", {})
    if curves.get("loss"):
        st.subheader("Training and validation curves")
        st.plotly_chart(figures.training_curves_figure(curves, best_epoch=curves.get("best_epoch"),
                                                       font_size=font_size),
                        config=PLOTLY_CONFIG, key="card_curves")
        st.caption(f"The dotted line marks the epoch whose weights were kept (best validation loss: epoch "
                   f"{curves.get('best_epoch', '?')}).")


def show_wrong_examples(card: model_card.ModelCard, model_name: str) -> None:
    st.header("Most confidently wrong test sentences")
    if not card.wrong_examples:
        st.info("The model classifies every test sentence correctly.")
        return
    st.caption("Each link opens the sentence on the Explore page (in a new tab), where you can see which words "
               "misled the model.")
    lines = []
    for example in card.wrong_examples:
        truth = model_card.CLASS_NAMES[example["label"]]
        url = model_card.explore_url(example["text"], model_name, DEFAULT_MODEL_NAME)
        lines.append(f"1. [{ui.markdown_safe(example['text'])}]({url}) — truly **{truth}**, "
                     f"model said P(positive) = {example['probability']:.3f}")
    st.markdown("\n".join(lines))


def main() -> None:
    ui.page_setup("Model card", icon="📇")
    st.title("Model card")
    model_name = ui.current_model_name()
    if model_name is None:
        st.error("No trained model was found. Train one with `python -m attnviz train`.")
        return
    try:
        model = ui.get_model(model_name)
        if hasattr(model, "models_by_language"):  # "auto" routes each text to a bundled model: describe one
            languages = list(model.languages)
            if len(languages) > 1:
                st.info("The automatic choice sends each sentence to the bundled model of its script. "
                        "This card describes one of them at a time.")
                model_name = st.radio("Bundled model", languages, horizontal=True, key="card_language",
                                      index=languages.index(model.default_language)
                                      if model.default_language in languages else 0)
            else:
                model_name = model.default_language
            model = ui.get_model(model_name)
        card = cached_card(model_name)
    except AttnvizError as error:
        ui.show_error(error)
        return
    except KeyError:
        st.warning("This model has no stored model card (it was trained on an uploaded file by an older "
                   "version). Its recorded metrics are below.")
        st.json(ui.get_model(model_name).metrics, expanded=False)
        return
    metrics = model.metrics
    font_size = ui.figure_font_size()
    trained = metrics.get("date", "unknown date")
    st.markdown(f"Model **{ui.markdown_safe(model_name)}** · {ui.markdown_safe(metrics.get('model', ''))} · "
                f"embedding width d = {model.config.embedding_dim} · trained {ui.markdown_safe(trained)}"
                + (" in the browser" if metrics.get("trained_in_browser") else "")
                + (" (stopped early by the user)" if metrics.get("stopped_by_user") else ""))
    show_dataset(card, metrics, font_size)
    show_quality(card, metrics, font_size)
    show_wrong_examples(card, model_name)
    st.header("Limits")
    st.markdown(LIMITS.format(max_tokens=model.max_tokens, source=ui.markdown_safe(card.source.rstrip("."))))


main()
