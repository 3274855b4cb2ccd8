"""Formula page: from the raw sentence to the probability, one step at a time, with the model's real numbers.

The page only reads widgets and renders; every number comes from the ``Analysis`` (the Keras model) or from
``attnviz.walkthrough`` / ``attnviz.formula`` (NumPy), which are unit-tested.

URL parameters (besides the shared ``text``, ``model`` and ``classroom``): ``step`` (1-8 or ``all``), ``i`` and
``j`` (the 1-based cell of the worked examples) and ``scale`` (the what-if factor, left out when it is 1).
"""

from __future__ import annotations

import functools

import streamlit as st

from attnviz import figures, ui, walkthrough
from attnviz.errors import AttnvizError

STEP_STATE, SHOW_ALL_STATE = "formula_step", "formula_show_all"
ROW_STATE, COLUMN_STATE, SCALE_STATE = "formula_i", "formula_j", "formula_scale"
TEXT_WIDGET = "_formula_text_widget"

ui.page_setup("Formula", icon="🧮")
classroom = ui.is_classroom()
font_size = ui.figure_font_size()
digits = 3 if classroom else 4
table_tokens = 8 if classroom else walkthrough.TABLE_MAX_TOKENS
table_dimensions = 6 if classroom else walkthrough.TABLE_MAX_DIMENSIONS
heatmap_tokens = walkthrough.HEATMAP_MAX_TOKENS


# ----- URL <-> session state ---------------------------------------------------------------------------------
def adopt_step(raw: str) -> int:
    """``step=all`` turns on "show everything" (keeping the current step); ``step=N`` goes to step N."""
    parsed = walkthrough.parse_step(raw, default=st.session_state.get(STEP_STATE, 1))
    st.session_state[SHOW_ALL_STATE] = parsed == walkthrough.ALL_STEPS
    return parsed if parsed != walkthrough.ALL_STEPS else st.session_state.get(STEP_STATE, 1)


ui.adopt_url_value("step", STEP_STATE, adopt_step)
ui.adopt_url_value("i", ROW_STATE, str)          # clamped to the sentence's length below
ui.adopt_url_value("j", COLUMN_STATE, str)
ui.adopt_url_value("scale", SCALE_STATE, walkthrough.parse_scale)
st.session_state.setdefault(STEP_STATE, 1)
st.session_state.setdefault(SHOW_ALL_STATE, False)
st.session_state.setdefault(SCALE_STATE, 1.0)


# ----- callbacks (they run before the script, so they may set the widgets' values) -------------------------
def go_to_step(number: int) -> None:
    st.session_state[STEP_STATE] = min(max(number, 1), len(walkthrough.STEPS))


def copy_widget(widget_key: str, state_key: str) -> None:
    st.session_state[state_key] = st.session_state[widget_key]


def set_scale(value: float) -> None:
    st.session_state[SCALE_STATE] = value


def text_changed() -> None:
    ui.set_shared_text(st.session_state[TEXT_WIDGET])


# ----- the sentence and the model ----------------------------------------------------------------------------
st.title("🧮 The attention formula, step by step")
st.caption("From your sentence to the model's probability, with the model's own numbers at every step. "
           "Every value below is real: step 8 recomputes them in plain NumPy and compares.")

text = ui.shared_text()
st.session_state[TEXT_WIDGET] = text  # the widget's own state does not survive a page switch
st.text_area("Sentence", key=TEXT_WIDGET, on_change=text_changed, height=80, max_chars=20000,
             help="Shared with the other pages. Press Ctrl+Enter (or click outside) to apply.")
ui.set_shared_text(text)

model_name = ui.current_model_name()
if model_name is None:
    st.error("No trained model is available, so there is nothing to walk through. "
             "Train one with `python -m attnviz train`.")
    st.stop()
try:
    analysis = ui.analyze(text, model_name)
except AttnvizError as error:
    ui.show_error(error)
    st.stop()
except Exception as error:  # a user never sees a traceback
    ui.show_error(error)
    st.stop()

n_tokens = analysis.n_tokens
d = analysis.embeddings.shape[1]
labels = analysis.token_labels
row_position = walkthrough.parse_position(st.session_state.get(ROW_STATE), n_tokens, default=min(2, n_tokens))
column_position = walkthrough.parse_position(st.session_state.get(COLUMN_STATE), n_tokens,
                                             default=min(4, n_tokens))
st.session_state[ROW_STATE], st.session_state[COLUMN_STATE] = row_position, column_position
i, j = row_position - 1, column_position - 1  # 0-based for the arrays

st.caption(f"Model **{ui.markdown_safe(analysis.model_name)}** · n = {n_tokens} tokens · d = {d} dimensions · "
           f"prediction **{analysis.label}** (p = {walkthrough.format_number(analysis.probability, 4)})")
if analysis.truncated:
    st.warning(f"The text has {analysis.n_input_tokens} tokens; the model reads only the first {n_tokens}.")
if analysis.all_unknown:
    st.warning("None of these words is in the model's vocabulary: every token is the same \"unknown word\" "
               "vector, so the attention is uniform and the prediction says nothing about your words.")

# ----- navigation --------------------------------------------------------------------------------------------
step_numbers = [step.number for step in walkthrough.STEPS]
navigation = st.columns([1, 3, 1, 2], vertical_alignment="bottom")
st.session_state["_formula_show_all_widget"] = bool(st.session_state[SHOW_ALL_STATE])
show_all = navigation[3].toggle("Show everything", key="_formula_show_all_widget",
                                on_change=copy_widget, args=("_formula_show_all_widget", SHOW_ALL_STATE))
current_step = st.session_state[STEP_STATE]
navigation[0].button("◀ Previous", key="_formula_previous", disabled=show_all or current_step <= 1,
                     on_click=go_to_step, args=(current_step - 1,))
st.session_state["_formula_step_widget"] = current_step
navigation[1].selectbox("Step", step_numbers, key="_formula_step_widget", disabled=show_all,
                        format_func=lambda number: f"{number}. {walkthrough.STEPS[number - 1].title}",
                        on_change=copy_widget, args=("_formula_step_widget", STEP_STATE))
navigation[2].button("Next ▶", key="_formula_next", disabled=show_all or current_step >= len(step_numbers),
                     on_click=go_to_step, args=(current_step + 1,))
st.progress(current_step / len(step_numbers) if not show_all else 1.0)

cell_columns = st.columns(2)
option_positions = list(range(1, n_tokens + 1))
st.session_state["_formula_row_widget"] = row_position
cell_columns[0].selectbox("Worked cell: query token i (row)", option_positions, key="_formula_row_widget",
                          format_func=lambda position: f"{position}: {analysis.tokens[position - 1]}",
                          on_change=copy_widget, args=("_formula_row_widget", ROW_STATE))
st.session_state["_formula_column_widget"] = column_position
cell_columns[1].selectbox("Worked cell: key token j (column)", option_positions, key="_formula_column_widget",
                          format_func=lambda position: f"{position}: {analysis.tokens[position - 1]}",
                          on_change=copy_widget, args=("_formula_column_widget", COLUMN_STATE))

scale = float(st.session_state[SCALE_STATE])
ui.write_url_value("step", walkthrough.ALL_STEPS if show_all else str(current_step))
ui.write_url_value("i", str(row_position))
ui.write_url_value("j", str(column_position))
ui.write_url_value("scale", None if scale == 1.0 else f"{scale:g}")


# ----- the steps ---------------------------------------------------------------------------------------------
def step_header(number: int) -> None:
    step = walkthrough.STEPS[number - 1]
    st.header(f"Step {number}. {step.title}", divider="gray")
    st.latex(step.latex)
    with ui.explanation("What happens here"):
        st.markdown(step.explanation)


def caption_note(n_rows: int, n_columns: int | None, max_rows: int, max_columns: int | None) -> None:
    note = walkthrough.truncation_note(n_rows, n_columns or 0, max_rows, max_columns)
    if note:
        st.caption(note)


def render_step_1() -> None:
    step_header(1)
    st.markdown("**Your text, exactly as typed:**")
    st.code(analysis.text, language=None, wrap_lines=True)
    st.markdown("**After standardisation** (lower case, punctuation and symbols removed), split on spaces:")
    st.code(" ".join(analysis.tokens), language=None, wrap_lines=True)
    unknown = walkthrough.unknown_count(analysis)
    st.markdown(f"**{n_tokens} tokens** as the model reads them, **{unknown}** of them unknown to the model:")
    st.dataframe(walkthrough.token_table(analysis), hide_index=True)


def render_step_2() -> None:
    step_header(2)
    shown = min(n_tokens, heatmap_tokens)
    shown_dimensions = min(d, walkthrough.HEATMAP_MAX_DIMENSIONS)
    st.plotly_chart(figures.matrix_heatmap(
        analysis.embeddings[:shown, :shown_dimensions], labels[:shown],
        walkthrough.dimension_labels("x", d)[:shown_dimensions], title=f"Embeddings X ({n_tokens} × {d})",
        colorscale=figures.DIVERGING_COLORSCALE, zmid=0.0, colorbar_title="value", value_name="x",
        x_title="dimension k", y_title="token i", show_cell_values=False, font_size=font_size),
        key="formula_embeddings_figure")
    caption_note(n_tokens, d, heatmap_tokens, walkthrough.HEATMAP_MAX_DIMENSIONS)
    st.markdown(f"The first numbers of each vector (all {d} are used):")
    st.dataframe(walkthrough.matrix_table(analysis.embeddings, labels, walkthrough.dimension_labels("x", d),
                                          table_tokens, table_dimensions))
    caption_note(n_tokens, d, table_tokens, table_dimensions)


def render_step_3() -> None:
    step_header(3)
    shown = min(n_tokens, heatmap_tokens)
    st.plotly_chart(figures.matrix_heatmap(
        analysis.scores[:shown, :shown], labels[:shown], labels[:shown], title="Scores S = X Xᵀ",
        colorscale=figures.DIVERGING_COLORSCALE, zmid=0.0, colorbar_title="S", value_name="S",
        x_title="key token j", y_title="query token i",
        highlight=(i, j) if i < shown and j < shown else None, font_size=font_size),
        key="formula_scores_figure")
    caption_note(n_tokens, None, heatmap_tokens, None)
    worked = walkthrough.worked_score(analysis.embeddings, i, j)
    st.subheader(f"Cell ({row_position}, {column_position}) worked out")
    st.markdown(f"Query **{ui.markdown_safe(analysis.tokens[i])}** (#{row_position}) against key "
                f"**{ui.markdown_safe(analysis.tokens[j])}** (#{column_position}): multiply the {d} pairs of "
                "numbers and add them up.")
    st.latex(worked.latex(f"x_{{{row_position}}}", f"x_{{{column_position}}}",
                          f"S_{{{row_position},{column_position}}}", digits=digits, multiline=True))
    st.markdown(f"Sum of all {d} products: `{walkthrough.format_number(worked.total, 6)}`; the model's "
                f"S<sub>{row_position},{column_position}</sub> = "
                f"`{walkthrough.format_number(analysis.scores[i, j], 6)}`.", unsafe_allow_html=True)
    with st.expander(f"All {d} terms of the sum"):
        st.dataframe(worked.table(f"query x_{row_position}[k]", f"key x_{column_position}[k]"),
                     hide_index=True, key="formula_worked_terms")


def render_step_4(steps) -> None:
    step_header(4)
    shown = min(n_tokens, heatmap_tokens)
    st.plotly_chart(figures.matrix_heatmap(
        steps.shifted_exponentials[:shown, :shown], labels[:shown], labels[:shown],
        title="Exponentials e = exp(S − m)", zmin=0.0, zmax=1.0, colorbar_title="e", value_name="e",
        x_title="key token j", y_title="query token i",
        highlight=(i, j) if i < shown and j < shown else None, font_size=font_size),
        key="formula_exponentials_figure")
    caption_note(n_tokens, None, heatmap_tokens, None)
    st.markdown("Row maxima m<sub>i</sub> and row sums Z<sub>i</sub> (what step 5 divides by):",
                unsafe_allow_html=True)
    st.dataframe(walkthrough.matrix_table(
        [walkthrough.row_maxima(steps.scaled_scores), steps.row_sums], ["row maximum m_i", "row sum Z_i"], labels,
        max_rows=2, max_columns=table_tokens), key="formula_row_sums")
    caption_note(n_tokens, None, table_tokens, None)
    st.subheader(f"Cell ({row_position}, {column_position}) worked out")
    st.latex(walkthrough.worked_softmax(analysis.scores, i, j).exponential_latex(digits))


def render_step_5() -> None:
    step_header(5)
    shown = min(n_tokens, heatmap_tokens)
    st.plotly_chart(figures.matrix_heatmap(
        analysis.attention[:shown, :shown], labels[:shown], labels[:shown], title="Attention A = softmax(S)",
        zmin=0.0, zmax=1.0, colorbar_title="A", value_name="A", x_title="key token j (is looked at)",
        y_title="query token i (looks)", highlight=(i, j) if i < shown and j < shown else None,
        font_size=font_size), key="formula_attention_figure")
    caption_note(n_tokens, None, heatmap_tokens, None)
    st.markdown("Every row sums to 1:")
    st.dataframe(walkthrough.matrix_table(walkthrough.row_sums(analysis.attention), ["Σ_j A_ij"], labels,
                                          max_rows=1, max_columns=table_tokens),
                 key="formula_attention_row_sums")
    worked = walkthrough.worked_softmax(analysis.scores, i, j)
    st.subheader(f"Cell ({row_position}, {column_position}) worked out")
    st.latex(worked.latex(digits, multiline=True))
    st.markdown(f"The model's A<sub>{row_position},{column_position}</sub> = "
                f"`{walkthrough.format_number(analysis.attention[i, j], 6)}`.", unsafe_allow_html=True)
    with st.expander(f"Row {row_position} in full"):
        st.dataframe(worked.table(analysis.tokens), hide_index=True,
                     key="formula_worked_softmax")


def render_step_6() -> None:
    step_header(6)
    st.info("**A vector, not a matrix.** The seed article calls W a weight matrix, but W_j has one index: it is "
            f"a vector of {n_tokens} numbers, one per token, the column averages of the {n_tokens} × "
            f"{n_tokens} attention matrix A.", icon="📐")
    st.plotly_chart(figures.vector_bars(analysis.received, labels, title="W_j: average attention received",
                                        value_title="W_j", font_size=font_size),
                    key="formula_received_figure")
    check = walkthrough.pooling_check(analysis)
    st.markdown(f"Σ<sub>j</sub> W<sub>j</sub> = `{walkthrough.format_number(check.received_total, 6)}` "
                "(each row of A sums to 1, so their average does too).", unsafe_allow_html=True)
    st.markdown("**Why it matters, checked with this sentence's numbers:** the model's pooled vector "
                "(GlobalAveragePooling1D of the attention output) next to Σ<sub>j</sub> W<sub>j</sub> x<sub>j</sub>"
                " computed from W and the embeddings:", unsafe_allow_html=True)
    st.dataframe(check.table(table_dimensions), key="formula_pooling_check")
    verdict = (f"max |ō − Σ_j W_j x_j| over all {d} dimensions = "
               f"{walkthrough.format_number(check.max_abs_difference, 2)}")
    if check.max_abs_difference <= walkthrough.PROOF_THRESHOLD:
        st.success(f"Equal: {verdict}.", icon="✅")
    else:
        st.error(f"Not equal: {verdict}.", icon="❌")


def render_step_7() -> None:
    step_header(7)
    st.markdown("Attention outputs o<sub>i</sub> (first rows and dimensions):", unsafe_allow_html=True)
    st.dataframe(walkthrough.matrix_table(analysis.attention_output, labels, walkthrough.dimension_labels("o", d),
                                          table_tokens, table_dimensions),
                 key="formula_outputs")
    caption_note(n_tokens, d, table_tokens, table_dimensions)
    dense = walkthrough.worked_dot_product(analysis.classifier_weights, analysis.pooled)
    st.markdown("The Dense layer: one dot product of its weights w with the pooled vector ō, plus the bias b.")
    st.latex(dense.latex("w", r"\bar{o}", digits=digits, multiline=True))
    st.latex(rf"z = w \cdot \bar{{o}} + b = {walkthrough.format_number(dense.total, digits)} + "
             rf"{walkthrough.latex_number(analysis.bias, digits)} = "
             rf"{walkthrough.format_number(analysis.logit, digits)}")
    st.markdown("**The exact per-token split of the logit:**")
    st.plotly_chart(figures.vector_bars(analysis.contributions, labels,
                                        title="Contribution of each token W_j (w·x_j)",
                                        value_title="contribution", diverging=True, font_size=font_size),
                    key="formula_contributions_figure")
    st.dataframe(walkthrough.token_split_table(analysis), hide_index=True,
                 key="formula_split_table")
    split = walkthrough.logit_split(analysis)
    st.latex(rf"z = b + \sum_j W_j (w \cdot x_j) = {walkthrough.latex_number(split.bias, digits)} + "
             rf"{walkthrough.latex_number(split.contributions_total, digits)} = "
             rf"{walkthrough.format_number(split.total, 6)} \quad (\text{{model: }} "
             rf"{walkthrough.format_number(split.logit, 6)})")
    st.latex(rf"p = \sigma(z) = \frac{{1}}{{1 + e^{{-({walkthrough.format_number(analysis.logit, digits)})}}}}"
             rf" = {walkthrough.format_number(analysis.probability, 6)}")
    columns = st.columns(2)
    columns[0].metric("Logit z (model)", walkthrough.format_number(analysis.logit, 6))
    columns[1].metric(f"P(positive) (model) → {analysis.label}", walkthrough.format_number(analysis.probability, 6))


def render_step_8() -> None:
    step_header(8)
    rows = walkthrough.proof_rows(analysis, steps=numpy_steps)
    st.dataframe(walkthrough.proof_table(rows), hide_index=True,
                 key="formula_proof_table",
                 column_config={"max |Keras − NumPy|": st.column_config.NumberColumn(format="%.2e")})
    verdict = walkthrough.proof_verdict(rows)
    if verdict.passed:
        st.success(f"PASS: every quantity agrees within {walkthrough.PROOF_THRESHOLD:g} "
                   f"(largest difference {verdict.largest_difference:.1e}).", icon="✅")
    else:
        failed = ui.markdown_safe(", ".join(verdict.failed_quantities))
        st.error(f"FAIL: {failed} differ by more than {walkthrough.PROOF_THRESHOLD:g} "
                 f"(largest difference {verdict.largest_difference:.1e}).", icon="❌")


def render_what_if() -> None:
    st.header("What if? (hypothetical)", divider="orange")
    st.markdown("Multiply every score by a factor s before the softmax: s > 1 sharpens the attention, s < 1 "
                "flattens it, s = 0 makes it uniform. **The trained model always uses s = 1** (Keras' "
                f"`Attention()` does not scale); the Transformer paper uses 1/√d = 1/√{d}. Other values show "
                "what the prediction *would* be; they are not what the model computes.")
    st.latex(r"A^{(s)}_{ij} = \frac{\exp(s\,S_{ij})}{\sum_k \exp(s\,S_{ik})}")
    presets = st.columns([2, 2, 3], vertical_alignment="bottom")
    presets[0].button("Trained model (s = 1)", key="_formula_scale_trained", on_click=set_scale, args=(1.0,),
                      width="stretch")
    transformer = walkthrough.transformer_scale(d)
    presets[1].button(f"Transformer (s = 1/√{d} = {transformer:.4g})", key="_formula_scale_transformer",
                      on_click=set_scale, args=(transformer,))
    st.session_state["_formula_scale_widget"] = float(st.session_state[SCALE_STATE])
    presets[2].number_input("Scale factor s", min_value=walkthrough.SCALE_MINIMUM,
                            max_value=walkthrough.SCALE_MAXIMUM, step=0.05, format="%.4f",
                            key="_formula_scale_widget", on_change=copy_widget,
                            args=("_formula_scale_widget", SCALE_STATE))
    result = walkthrough.what_if(analysis, float(st.session_state[SCALE_STATE]))
    columns = st.columns(2)
    columns[0].metric("Trained model (real): P(positive)", walkthrough.format_number(result.trained_probability, 6))
    if result.is_trained_model:
        columns[1].metric("At s = 1: P(positive)", walkthrough.format_number(result.probability, 6))
        st.success("s = 1 is the trained model itself: the probability above is the model's own value.", icon="✅")
    else:
        columns[1].metric(f"Hypothetical at s = {result.scale:.4g}: P(positive) → {result.label}",
                          walkthrough.format_number(result.probability, 6),
                          delta=walkthrough.format_number(result.probability_change, 6))
        st.warning("Hypothetical: the trained model does not compute this. It shows how the softmax and the "
                   "prediction react to the scale.", icon="🧪")
    st.caption(f"Sharpness (average largest weight per row; 1/n = {result.uniform_weight:.3f} is uniform, "
               "1 is one-hot): "
               f"trained {result.trained_mean_largest_weight:.3f}, at s = {result.scale:.4g}: "
               f"{result.mean_largest_weight:.3f}.")
    shown = min(n_tokens, heatmap_tokens)
    st.plotly_chart(figures.matrix_heatmap(
        result.attention[:shown, :shown], labels[:shown], labels[:shown],
        title=f"{'Attention of the trained model' if result.is_trained_model else 'Hypothetical attention'}"
              f" at s = {result.scale:.4g}", zmin=0.0, zmax=1.0, colorbar_title="A", value_name="A",
        x_title="key token j", y_title="query token i", font_size=font_size),
        key="formula_what_if_figure")


# ----- render ------------------------------------------------------------------------------------------------
try:
    numpy_steps = walkthrough.computed_steps(analysis)
    renderers = {1: render_step_1, 2: render_step_2, 3: render_step_3, 4: lambda: render_step_4(numpy_steps),
                 5: render_step_5, 6: render_step_6, 7: render_step_7, 8: render_step_8}
    for number in (step_numbers if show_all else [current_step]):
        renderers[number]()
    render_what_if()
    st.divider()
    # A callable: the Markdown is built only when someone clicks, not on every rerun.
    st.download_button("⬇️ Download the worked calculation (Markdown + LaTeX)",
                       data=functools.partial(walkthrough.markdown_export, analysis, i, j,
                                              scale=float(st.session_state[SCALE_STATE]), digits=digits),
                       file_name="attnviz-formula.md", mime="text/markdown", key="formula_download",
                       on_click="ignore")
    st.caption("To share this view, copy the address bar: it holds the sentence, the step, the cell and the scale.")
except (AttnvizError, ValueError) as error:
    ui.show_error(error)
