"""Compare: two to four sentences side by side, what changed, whether attention explains the prediction, and
batch prediction of a CSV file or pasted lines.

This page reads widgets and draws; every number comes from ``Analysis`` objects or ``attnviz.compare``.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from attnviz import compare, figures, ui
from attnviz.errors import AttnvizError

EXPLORE_PAGE = "app.py"
TEXTS_STATE = "compare_texts"               # canonical list of the inputs (survives page switches)
URL_SEEN_STATE = "_compare_url_seen"        # the repeated ?text= values this session last read or wrote
INPUT_WIDGET = "compare_input_{index}"      # one text box per input
QUICK_EDIT_SOURCE = "compare_quick_source"
QUICK_EDIT_WORD = "compare_quick_word"
QUICK_EDIT_REPLACEMENT = "compare_quick_replacement"
QUICK_EDIT_TARGET = "compare_quick_target"
BATCH_RESULT_STATE = "compare_batch_result"
MAX_INPUT_CHARACTERS = 20_000                # per text box; the model reads at most 256 tokens anyway
MAX_URL_TOTAL_CHARACTERS = 4 * ui.MAX_URL_TEXT_CHARACTERS
PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"filename": "attnviz-compare"}}


# ----- state: the inputs live in session state and in the URL as repeated ``text`` parameters ----------
def initial_texts() -> list[str]:
    """Inputs for a fresh session: the shared sentence and a one-word variant of it."""
    first = ui.shared_text(ui.DEFAULT_TEXT) or ui.DEFAULT_TEXT
    return [first, compare.opposite_variant(first)]


def adopt_url_texts() -> None:
    """A new ``?text=...&text=...`` (first visit or a shared link) replaces the inputs."""
    url_texts = st.query_params.get_all(ui.TEXT_PARAMETER)
    if url_texts and url_texts != st.session_state.get(URL_SEEN_STATE):
        # Clip to what the text boxes accept: a hand-made URL must not break the widgets.
        texts = [text[:MAX_INPUT_CHARACTERS] for text in url_texts[:compare.MAX_INPUTS]]
        if len(texts) == 1:  # e.g. a link from the Explore page: compare the sentence with a variant
            texts.append(compare.opposite_variant(texts[0]))
        st.session_state[TEXTS_STATE] = texts
        st.session_state[URL_SEEN_STATE] = url_texts
    if TEXTS_STATE not in st.session_state:
        st.session_state[TEXTS_STATE] = initial_texts()


def write_url_texts(texts: list[str]) -> None:
    """Put the inputs in the URL so the comparison can be shared (left out when they are very long)."""
    if sum(len(text) for text in texts) > MAX_URL_TOTAL_CHARACTERS:
        if ui.TEXT_PARAMETER in st.query_params:
            del st.query_params[ui.TEXT_PARAMETER]
        st.session_state[URL_SEEN_STATE] = []
        return
    if st.query_params.get_all(ui.TEXT_PARAMETER) != texts:
        st.query_params[ui.TEXT_PARAMETER] = texts
    st.session_state[URL_SEEN_STATE] = list(texts)


def set_input(index: int, text: str) -> None:
    texts = list(st.session_state[TEXTS_STATE])
    texts[index] = text
    st.session_state[TEXTS_STATE] = texts


def copy_widget_to_texts(index: int) -> None:
    set_input(index, st.session_state[INPUT_WIDGET.format(index=index)])


def add_input() -> None:
    texts = list(st.session_state[TEXTS_STATE])
    if len(texts) < compare.MAX_INPUTS:
        st.session_state[TEXTS_STATE] = [*texts, texts[0]]  # a copy of A, ready to be edited


def remove_input(index: int) -> None:
    texts = list(st.session_state[TEXTS_STATE])
    if len(texts) > 2:
        del texts[index]
        st.session_state[TEXTS_STATE] = texts


def apply_quick_edit(kind: str, suggestion: str = "") -> None:
    """Callback of the quick-edit buttons: write the edited source text into the target input.

    Everything is read from widget state at click time (not from arguments captured in the previous run), so
    a word typed just before the click is used.
    """
    names = compare.input_names(len(st.session_state[TEXTS_STATE]))
    source_index = names.index(st.session_state.get(QUICK_EDIT_SOURCE, names[0]))
    source_text = st.session_state.get(INPUT_WIDGET.format(index=source_index),
                                       st.session_state[TEXTS_STATE][source_index])
    target = names.index(st.session_state.get(QUICK_EDIT_TARGET, names[1]))
    position = st.session_state.get(QUICK_EDIT_WORD, 0)
    if not isinstance(position, int):  # the browser sent a word label from before the sentence changed
        st.session_state["compare_quick_error"] = "The sentence changed: pick the word again, then click."
        return
    replacement = st.session_state.get(QUICK_EDIT_REPLACEMENT, "").strip() or suggestion
    try:
        if kind == "remove":
            edited = compare.remove_word(source_text, position)
        elif kind == "replace":
            edited = compare.replace_word(source_text, position, replacement)
        else:
            edited = compare.negate(source_text)
    except ValueError as error:
        st.session_state["compare_quick_error"] = str(error)
        return
    set_input(target, edited)


def explore_link(name: str, text: str) -> None:
    """A link that opens ``text`` on the Explore page (the entry page, ``app.py``)."""
    query = {ui.TEXT_PARAMETER: text} if len(text) <= ui.MAX_URL_TEXT_CHARACTERS else None
    try:
        st.page_link(EXPLORE_PAGE, label=f"Open {name} in Explore", icon=":material/search:", query_params=query)
    except StreamlitPageNotFoundError:
        # This page was started on its own (no app.py entry point, e.g. in a test): a plain link still works.
        st.markdown(f"[🔎 Open {name} in Explore](/?{urlencode(query or {})})")


def format_correlation(value: float) -> str:
    """"+0.83", or "n/a" when there is nothing to rank (fewer than 3 words, or all values equal)."""
    return "n/a" if value != value else f"{value:+.2f}"  # value != value only for NaN


# ----- page ------------------------------------------------------------------------------------------------
ui.page_setup("Compare", icon="⚖️")
font_size = ui.figure_font_size()
st.title("Compare sentences")
st.caption("Change one word and watch what happens. Each column is one sentence read by the selected model; "
           "the inputs are saved in the page address, so you can share the comparison.")

model_name = ui.current_model_name()
if model_name is None:
    st.stop()  # page_setup already explained that no model exists
try:
    model = ui.get_model(model_name)
except AttnvizError as error:
    ui.show_error(error)
    st.stop()

adopt_url_texts()
texts: list[str] = list(st.session_state[TEXTS_STATE])
names = compare.input_names(len(texts))

# --- inputs
input_columns = st.columns(len(texts))
for index, (column, name) in enumerate(zip(input_columns, names)):
    widget_key = INPUT_WIDGET.format(index=index)
    st.session_state[widget_key] = texts[index]  # re-seed: widget state does not survive page switches
    with column:
        column.text_input(f"Input {name}", key=widget_key, on_change=copy_widget_to_texts, args=(index,),
                          max_chars=MAX_INPUT_CHARACTERS)
        if len(texts) > 2:
            column.button(f"Remove {name}", key=f"compare_remove_{index}", on_click=remove_input, args=(index,))
st.button("Add an input", icon=":material/add:", on_click=add_input, disabled=len(texts) >= compare.MAX_INPUTS,
          help=f"Compare up to {compare.MAX_INPUTS} sentences.")
write_url_texts(texts)
st.session_state[ui.TEXT_STATE] = texts[0]  # input A is the "current sentence" for the other pages

# --- analyses (cached by the model; an unreadable input only blanks its own column)
analyses: list = []
input_errors: dict[int, AttnvizError] = {}
for index, text in enumerate(texts):
    try:
        analyses.append(ui.analyze(text, model_name))  # on a warm model thread, like the other pages
    except AttnvizError as error:
        analyses.append(None)
        input_errors[index] = error
readable = [(name, analysis) for name, analysis in zip(names, analyses) if analysis is not None]

# --- quick edits
with st.expander("Quick edits: make one input from another", expanded=not ui.is_classroom()):
    edit_columns = st.columns([1, 2, 2, 1])
    source_name = edit_columns[0].selectbox("Start from", [name for name, _ in readable] or names[:1],
                                            key=QUICK_EDIT_SOURCE)
    source_index = names.index(source_name)
    source_text = texts[source_index]
    source_words = [compare.span_word(source_text, span) for span in compare.word_spans(source_text)]
    target_choices = [name for name in names if name != source_name]
    if st.session_state.get(QUICK_EDIT_TARGET) not in target_choices:
        st.session_state[QUICK_EDIT_TARGET] = target_choices[0]
    edit_columns[3].selectbox("Write into", target_choices, key=QUICK_EDIT_TARGET)
    if source_words:
        chosen_word = st.session_state.get(QUICK_EDIT_WORD)
        # The browser can hand back a widget value of another type or an index past a shorter new sentence.
        if not isinstance(chosen_word, int) or not 0 <= chosen_word < len(source_words):
            # Start on the first word with a known opposite ("good"), the classic classroom swap.
            st.session_state[QUICK_EDIT_WORD] = next(
                (position for position, word in enumerate(source_words) if compare.suggest_replacement(word)), 0)
        word_position = edit_columns[1].selectbox(
            "Word", list(range(len(source_words))), key=QUICK_EDIT_WORD,
            format_func=lambda position: f"{source_words[position]} (#{position + 1})")
        suggestion = compare.suggest_replacement(source_words[word_position])
        edit_columns[2].text_input("Replace it with", key=QUICK_EDIT_REPLACEMENT, placeholder=suggestion or "a word",
                                   help="Leave empty to use the suggested opposite, when there is one.")
        button_columns = st.columns(3)
        button_columns[0].button("Remove the word", key="compare_quick_remove", on_click=apply_quick_edit,
                                 args=("remove",), width="stretch")
        typed_replacement = st.session_state.get(QUICK_EDIT_REPLACEMENT, "").strip()
        button_columns[1].button("Replace the word", key="compare_quick_replace", on_click=apply_quick_edit,
                                 args=("replace", suggestion),
                                 disabled=not (typed_replacement or suggestion),
                                 width="stretch")
        button_columns[2].button('Negate ("not")', key="compare_quick_negate", on_click=apply_quick_edit,
                                 args=("negate",), width="stretch")
        if not (typed_replacement or suggestion):
            st.caption("Type a replacement word to enable “Replace the word”.")
    else:
        st.caption("This input has no words to edit.")
    quick_error = st.session_state.pop("compare_quick_error", None)
    if quick_error:
        st.warning(ui.markdown_safe(quick_error))

if not readable:
    for error in input_errors.values():
        ui.show_error(error)
    st.stop()

# --- side by side
scale_choice = st.radio("Colour scale", ["shared: 0 to the largest weight of all inputs", "fixed: 0 to 1"],
                        horizontal=True, key="compare_scale",
                        help="Both options use ONE scale for every heatmap, so equal colours mean equal weights.")
shared_zmax = compare.shared_color_maximum([analysis for _, analysis in readable]) \
    if scale_choice.startswith("shared") else 1.0
st.caption("Every heatmap below uses the same colours for the same weight: 0 is white, "
           f"{shared_zmax:.2f} is the darkest blue.")
last_readable_index = max(index for index, analysis in enumerate(analyses) if analysis is not None)
result_columns = st.columns(len(texts))
for index, (column, name, text, analysis) in enumerate(zip(result_columns, names, texts, analyses)):
    with column:
        st.subheader(f"Input {name}")
        if analysis is None:
            ui.show_error(input_errors[index])
            continue
        st.metric("P(positive)", f"{analysis.probability:.3f}", help=f"logit {analysis.logit:+.3f}")
        st.markdown(f"**{analysis.label}** · {analysis.n_tokens} tokens"
                    + (f" · {int(analysis.oov.sum())} unknown" if analysis.oov.any() else ""))
        if analysis.truncated:
            st.warning(f"Only the first {analysis.n_tokens} of {analysis.n_input_tokens} words are read.")
        if analysis.all_unknown:
            st.warning("The model knows none of these words; the prediction says nothing about the sentence.")
        heatmap = figures.attention_heatmap(analysis, zmax=shared_zmax, font_size=font_size,
                                            show_cell_values=analysis.n_tokens <= 8 and len(texts) <= 2,
                                            height=max(320, min(700, 120 + 28 * analysis.n_tokens)))
        if len(texts) > 2:
            # Narrow columns: no axis titles, and one colour bar (on the last heatmap) serves all, since the
            # scale is shared.
            heatmap.update_layout(xaxis_title_text=None, yaxis_title_text=None)
            heatmap.update_traces(showscale=index == last_readable_index,
                                  colorbar={"orientation": "h", "y": -0.04, "yanchor": "top", "thickness": 12})
        st.plotly_chart(heatmap, key=f"compare_heatmap_{index}", config=PLOTLY_CONFIG, width="stretch")
        explore_link(name, text)

st.subheader("Summary")
st.dataframe(compare.summary_table([analysis for _, analysis in readable], [name for name, _ in readable]),
             column_config={"P(positive)": st.column_config.NumberColumn(format="%.3f"),
                            "logit": st.column_config.NumberColumn(format="%+.3f"),
                            "its W_j": st.column_config.NumberColumn(format="%.3f"),
                            "attention entropy (bits)": st.column_config.NumberColumn(format="%.2f"),
                            "max entropy log2(n)": st.column_config.NumberColumn(format="%.2f")},
             width="stretch")
with ui.explanation("What do these columns mean?"):
    st.markdown(
        "- **most attended token**: the word with the largest *received attention* W_j — the average, over all "
        "words, of how much each word looks at it.\n"
        "- **attention entropy**: how spread out the attention is, in bits. 0 means every word looks at just one "
        "word; log2(n) (next column) means every word looks at all words equally.\n"
        "- **unknown words** are not in the model's vocabulary; they all share one embedding.")

# --- what changed between two inputs
st.subheader("What changed?")
readable_names = [name for name, _ in readable]
if len(readable) < 2:
    st.info("Two readable inputs are needed to compare them.")
else:
    pair_columns = st.columns(2)
    first_name = pair_columns[0].selectbox("First", readable_names, index=0, key="compare_pair_first") \
        if len(readable) > 2 else readable_names[0]
    second_choices = [name for name in readable_names if name != first_name]
    second_name = pair_columns[1].selectbox("Second", second_choices, index=0, key="compare_pair_second") \
        if len(readable) > 2 else second_choices[0]
    analysis_first = dict(readable)[first_name]
    analysis_second = dict(readable)[second_name]
    if analysis_first.n_tokens == analysis_second.n_tokens:
        difference = compare.attention_difference(analysis_first.attention, analysis_second.attention)
        st.plotly_chart(
            figures.difference_heatmap(analysis_first, analysis_second, difference, name_a=first_name,
                                       name_b=second_name, font_size=font_size,
                                       title=f"Attention difference {second_name} − {first_name}"),
            key="compare_difference", config=PLOTLY_CONFIG, width="stretch")
        st.caption(f"Blue: {second_name} puts more attention on that cell; red: {first_name} does. "
                   "Same position, same cell, even where the words differ.")
    else:
        st.info(f"{first_name} has {analysis_first.n_tokens} tokens and {second_name} has "
                f"{analysis_second.n_tokens}: a cell-by-cell difference needs equal counts. The bars below line "
                "the words up instead.")
    st.plotly_chart(
        figures.aligned_received_bars(compare.aligned_received(analysis_first, analysis_second), name_a=first_name,
                                      name_b=second_name, font_size=font_size,
                                      title=f"Attention each word receives (W_j), {first_name} and {second_name}"),
        key="compare_aligned", config=PLOTLY_CONFIG, width="stretch")
    st.caption("Words are lined up by a word alignment (Python's difflib): equal words share a place, and a "
               "replaced word stands next to its replacement (shown as “old → new”).")

# --- does attention explain the prediction?
st.subheader("Does attention explain the prediction?")
explained_name = st.selectbox("Input", readable_names, key="compare_occlusion_input") if len(readable) > 1 \
    else readable_names[0]
explained = dict(readable)[explained_name]
try:
    occlusion = ui.in_model_thread(compare.occlusion_table, model, explained)
except AttnvizError as error:
    ui.show_error(error)
    occlusion = None
except ValueError as error:
    st.info(ui.markdown_safe(str(error)))
    occlusion = None
if occlusion is not None:
    correlations = compare.explanation_correlations(occlusion)
    metric_columns = st.columns(2)
    metric_columns[0].metric("Rank correlation: attention W_j vs size of the effect",
                             format_correlation(correlations["received_vs_occlusion_size"]),
                             help="Spearman's ρ between W_j and |occlusion effect|. +1: the more attention a word "
                                  "receives, the more its removal moves the prediction.")
    metric_columns[1].metric("Rank correlation: contribution vs effect",
                             format_correlation(correlations["contribution_vs_occlusion"]),
                             help="Spearman's ρ between the signed logit contribution and the signed occlusion "
                                  "effect.")
    st.dataframe(occlusion, hide_index=True, width="stretch",
                 column_config={"received W_j": st.column_config.NumberColumn(format="%.4f"),
                                "contribution": st.column_config.NumberColumn(format="%+.4f"),
                                "P without it": st.column_config.NumberColumn(format="%.4f"),
                                "occlusion effect": st.column_config.NumberColumn(
                                    format="%+.4f", help="P(positive) with the word minus P(positive) without it: "
                                                         "how much the word pushed towards positive.")})
    st.markdown(
        "**What this shows.** The *occlusion effect* is measured, not explained: we delete one word, run the "
        "model again, and see how far P(positive) moves. *Attention W_j* only says how much the other words "
        "look at a word; it has no sign and ignores what the word means to the classifier, so a heavily "
        "attended word can push the prediction either way, or barely at all — attention weight alone is not an "
        "explanation. The *contribution* W_j · (w · x_j) combines the attention with the word's own vote, and "
        "for this model it is exact: the bias plus the contributions add up to the logit. It still differs "
        "from occlusion, because removing a word also changes how all the remaining words attend to each other.")

# --- batch
st.subheader("Batch: many sentences at once")
st.caption(f"A CSV file with a `text` column and, optionally, a `label` column (1/0, pos/neg or "
           f"positive/negative) — or one sentence per line. Up to {compare.BATCH_MAX_ROWS:,} rows and "
           f"{compare.BATCH_MAX_BYTES // (1024 * 1024)} MB.")
upload_tab, paste_tab = st.tabs(["Upload a CSV file", "Paste lines"])
with upload_tab:
    uploaded = st.file_uploader("CSV file", type=["csv", "txt", "tsv"], key="compare_batch_file",
                                max_upload_size=compare.BATCH_MAX_BYTES // (1024 * 1024))
    run_file = st.button("Predict the file", key="compare_batch_run_file", disabled=uploaded is None)
with paste_tab:
    pasted = st.text_area("One sentence per line", key="compare_batch_lines", height=150)
    run_lines = st.button("Predict the lines", key="compare_batch_run_lines", disabled=not pasted.strip())

if run_file or run_lines:
    st.session_state.pop(BATCH_RESULT_STATE, None)
    try:
        if run_file:
            batch_input = compare.read_batch_csv(uploaded.getvalue())
        else:
            batch_input = compare.read_pasted_lines(pasted)
        progress = st.progress(0.0, text="Predicting…")

        def show_progress(done: int, total: int) -> None:
            progress.progress(done / total, text=f"Predicting… {done:,} of {total:,}")

        labels = batch_input[compare.LABEL_COLUMN].tolist() if compare.LABEL_COLUMN in batch_input else None
        st.session_state[BATCH_RESULT_STATE] = compare.predict_batch(
            model, batch_input[compare.TEXT_COLUMN].tolist(), labels, progress_callback=show_progress)
        progress.empty()
    except AttnvizError as error:
        ui.show_error(error)

batch_result = st.session_state.get(BATCH_RESULT_STATE)
if batch_result is not None:
    accuracy = compare.batch_accuracy(batch_result)
    summary_columns = st.columns(3)
    summary_columns[0].metric("Rows", f"{len(batch_result):,}")
    summary_columns[1].metric("Predicted positive", f"{int((batch_result['prediction'] == 'positive').sum()):,}")
    if accuracy is not None:
        summary_columns[2].metric("Accuracy", f"{accuracy[0]:.1%}", help=f"over {accuracy[1]:,} labelled rows")
    unreadable = int((batch_result["note"] == "no readable words").sum())
    if unreadable:
        st.info(f"{unreadable:,} row(s) have no words the model can read; they have no prediction.")
    st.dataframe(batch_result, hide_index=True, width="stretch",
                 column_config={"P(positive)": st.column_config.NumberColumn(format="%.3f"),
                                "logit": st.column_config.NumberColumn(format="%+.3f"),
                                "its W_j": st.column_config.NumberColumn(format="%.3f")})
    st.download_button("Download the results (CSV)", batch_result.to_csv(index=False).encode("utf-8"),
                       file_name="attnviz-batch-predictions.csv", mime="text/csv", key="compare_batch_download")
