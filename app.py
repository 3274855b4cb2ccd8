"""Explore (the entry page): type a sentence, see the prediction next to the attention heatmap.

The page only reads widgets and renders. Every number comes from the cached ``Analysis``
(``attnviz.ui.analyze``), every figure from ``attnviz.figures`` and every download from ``attnviz.export``.

URL parameters, besides the shared ``text``, ``model`` and ``classroom``: ``range=auto`` (colour bar from 0 to
the largest weight instead of 0-1) and ``image=svg`` (the camera button saves SVG instead of PNG).
"""

from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st

from attnviz import export, figures, presets, ui

TEXT_WIDGET = "explore_text"
PRESET_WIDGET = "explore_preset"
AUTO_RANGE_WIDGET = "explore_auto_range"
IMAGE_FORMAT_WIDGET = "explore_image_format"
RANGE_PARAMETER, IMAGE_PARAMETER = "range", "image"
IMAGE_FORMATS = {"PNG": "png", "SVG": "svg"}
FORMULA_PAGE = "pages/1_Formula.py"
FAINT_WEIGHT = 0.1  # below this largest weight, the 0-1 colour bar makes the heatmap look blank
MAX_TEXT_CHARACTERS = 20_000  # far more than 256 tokens; bounds the work one request can cause

ui.page_setup("Explore", icon="🔎")
classroom = ui.is_classroom()
font_size = ui.figure_font_size()
model_name = ui.current_model_name()


# ----- state: URL -> widgets (first run of this page in the session), widgets -> URL (every run) -------------
if TEXT_WIDGET not in st.session_state:
    st.session_state[TEXT_WIDGET] = ui.shared_text()
if AUTO_RANGE_WIDGET not in st.session_state:
    st.session_state[AUTO_RANGE_WIDGET] = st.query_params.get(RANGE_PARAMETER) == "auto"
if IMAGE_FORMAT_WIDGET not in st.session_state:
    st.session_state[IMAGE_FORMAT_WIDGET] = "SVG" if st.query_params.get(IMAGE_PARAMETER) == "svg" else "PNG"


def use_chosen_preset() -> None:
    """Copy the chosen preset into the text box (runs before the page, so the widget can still be set)."""
    preset = presets.preset_by_name(st.session_state.get(PRESET_WIDGET) or "")
    if preset is not None:
        st.session_state[TEXT_WIDGET] = preset.text


try:
    selected_model = ui.get_model(model_name)
    # "auto" routes each sentence by its script, so it offers the presets of every language it can read.
    menu_languages = getattr(selected_model, "languages", None) or (selected_model.config.language,)
except Exception:  # the model error itself is shown below, where the analysis fails
    menu_languages = ("en",)
menu = [preset for language in menu_languages for preset in presets.presets_for(language)] or presets.presets_for()
# The preset menu highlights the preset whose text is in the box (none after the user edits it).
current_preset = next((preset for preset in menu if preset.text == st.session_state[TEXT_WIDGET]), None)
st.session_state[PRESET_WIDGET] = current_preset.name if current_preset else None


# ----- input ------------------------------------------------------------------------------------------------
st.title(":material/manage_search: How does the model read your sentence?")
if not classroom:
    st.caption("A small neural network reads a film review and guesses whether it is positive or negative. "
               "Type a sentence and press **Enter**: you see its guess, and which words it paid attention to.")
st.text_input("Your sentence (press Enter to update)", key=TEXT_WIDGET, max_chars=MAX_TEXT_CHARACTERS,
              placeholder="Type a sentence, e.g. not bad at all")
st.pills("Or try one of these", [preset.name for preset in menu], key=PRESET_WIDGET, on_change=use_chosen_preset)
# Conditional messages go into containers that always exist, so the elements below keep their positions
# between reruns and the browser updates the charts in place instead of rebuilding them.
preset_note_area = st.container()
if current_preset is not None and current_preset.note and not classroom:
    preset_note_area.caption(ui.markdown_safe(current_preset.note))
notice_area = st.container()

text = st.session_state[TEXT_WIDGET]
ui.set_shared_text(text)

with st.sidebar:
    st.subheader("Display")
    st.segmented_control("Saving charts as", list(IMAGE_FORMATS), key=IMAGE_FORMAT_WIDGET,
                         help="Hover over a chart and click its camera icon to save it as a picture.")
auto_range = bool(st.session_state[AUTO_RANGE_WIDGET])
image_format = IMAGE_FORMATS.get(st.session_state[IMAGE_FORMAT_WIDGET] or "PNG", "png")
ui.write_url_value(RANGE_PARAMETER, "auto" if auto_range else None)
ui.write_url_value(IMAGE_PARAMETER, "svg" if image_format == "svg" else None)


# ----- analysis (cached per model and text) -------------------------------------------------------------------
try:
    analysis = ui.analyze(text, model_name)
except Exception as error:  # AttnvizError: a friendly message; anything else: a generic one, never a traceback
    with notice_area:
        ui.show_error(error)
    st.stop()

if analysis.truncated:
    notice_area.warning(f"This text has {analysis.n_input_tokens} words; the model reads only the first "
                        f"{analysis.n_tokens}. Everything below is about those {analysis.n_tokens} words.",
                        icon=":material/content_cut:")
if analysis.all_unknown:
    notice_area.warning("The model knows none of these words. Every word becomes the same 'unknown word' token, "
                        "so the prediction below says nothing about your sentence: it is the model's guess for "
                        "unknown words.", icon=":material/help:")
elif analysis.oov.any():
    notice_area.caption(f"{int(analysis.oov.sum())} of {analysis.n_tokens} words are unknown to the model (marked "
                        "⁽?⁾ and outlined in orange): they all share one 'unknown word' token.")

file_stem = export.file_stem(analysis)
chart_config = figures.image_export_config(file_stem, image_format)


# ----- prediction next to the heatmap -------------------------------------------------------------------------
prediction_column, heatmap_column = st.columns([1, 2.3], gap="large")
with prediction_column:
    st.subheader("The model's guess")
    # Material icons come with Streamlit's own font, so they render even where no emoji font is installed.
    verdict = (":blue[:material/thumb_up: positive]" if analysis.label == "positive"
               else ":red[:material/thumb_down: negative]")
    st.markdown(f"## {verdict}")
    # An HTML bar rather than a Plotly gauge: one chart less for the browser to draw on every edit.
    st.html(figures.probability_bar_html(analysis.probability))
    probability_metric, logit_metric = st.columns(2)
    probability_metric.metric("P(positive)", f"{analysis.probability:.3f}",
                              help="σ(logit) = 1 / (1 + e^−logit). Above 0.5 means positive.")
    logit_metric.metric("Logit", f"{analysis.logit:+.3f}",
                        help="The score before it is squashed into a probability: above 0 means positive.")
    st.caption(f"Read by the model **{ui.markdown_safe(analysis.model_name)}**.")
    with ui.explanation("How to read this"):
        st.markdown("The model turns the sentence into one number, the **logit**. Above 0 means *positive*, "
                    "below 0 *negative*; the further from 0, the surer it is. The **probability** is the same "
                    "number squeezed between 0 and 1.")
    if (Path(__file__).resolve().parent / FORMULA_PAGE).is_file():
        st.page_link(FORMULA_PAGE, label="Step-by-step formula", icon=":material/calculate:",
                     query_params={ui.TEXT_PARAMETER: text} if len(text) <= ui.MAX_URL_TEXT_CHARACTERS else None)

with heatmap_column:
    title_column, toggle_column = st.columns([3, 2], vertical_alignment="bottom")
    title_column.subheader("Who looks at whom")
    toggle_column.toggle("Auto colour range", key=AUTO_RANGE_WIDGET,
                         help="Off: the colour bar always goes from 0 to 1, so a colour means the same weight in "
                              "every sentence. On: from 0 to the largest weight here, so small differences in long "
                              "sentences become visible.")
    largest_weight = figures.largest_weight(analysis)
    if not auto_range and largest_weight < FAINT_WEIGHT:
        st.caption(f"Every weight here is small (the largest is {largest_weight:.3f}), so the squares look pale: "
                   "switch on **Auto colour range** to see the differences.")
    heatmap_height = int(min(1000, max(480, 200 + 40 * analysis.n_tokens))) if classroom else None
    st.plotly_chart(figures.attention_heatmap(analysis, auto_range=auto_range, font_size=font_size,
                                              height=heatmap_height), config=chart_config)
    st.caption("Each **row** is one word looking at every word of the sentence (including itself). Darker = it "
               "looks more. **Every row adds up to 1**: each word shares out exactly 100 % of its attention. "
               "Hover over a square for the two words, their positions, the weight and the raw score x·x.")


# ----- what the prediction is made of -------------------------------------------------------------------------
st.subheader("What the prediction is made of")
st.plotly_chart(figures.received_attention_bars(analysis, font_size=font_size, height=380 if classroom else 300),
                config=figures.image_export_config(f"{file_stem}-received", image_format))
st.caption("**Attention received** W = the average of a word's column in the heatmap: how much the whole "
           "sentence looks at it. The dashed line is the share each word would get if attention were spread "
           "evenly.")

st.markdown("**Each word's push on the guess** (blue = towards positive, red = towards negative; the number is "
            "how much it adds to the logit):")
st.html(figures.contributions_html(analysis, font_size_px=26 if classroom else 18))
terms = figures.logit_identity_terms(analysis)
st.markdown(f"**logit = bias + sum of the pushes**: `{terms['logit']:+.4f}` = `{terms['bias']:+.4f}` + "
            f"`{terms['contributions_total']:+.4f}`")
most_positive, most_negative = figures.strongest_contributions(analysis)
with ui.explanation("Where do the pushes come from?"):
    lines = ["A word's push = **attention received W** × **what the word means to the classifier** (w·x, "
             "positive for words like *great*, negative for words like *boring*). Add all pushes and the "
             "model's fixed starting point (the *bias*) and you get the logit exactly."]
    if most_positive is not None:
        lines.append(f"Strongest push towards positive: **{ui.markdown_safe(analysis.tokens[most_positive])}** "
                     f"(word {most_positive + 1}, {analysis.contributions[most_positive]:+.2f}).")
    if most_negative is not None:
        lines.append(f"Strongest push towards negative: **{ui.markdown_safe(analysis.tokens[most_negative])}** "
                     f"(word {most_negative + 1}, {analysis.contributions[most_negative]:+.2f}).")
    st.markdown("\n\n".join(lines))


# ----- share and export ------------------------------------------------------------------------------------------
st.subheader("Share and download")
st.caption("The address bar holds your sentence and options: copy it to share exactly this view.")
downloads = [  # (label, builder, file name, MIME type)
    ("Attention matrix (CSV)", export.attention_csv, f"{file_stem}-attention.csv", "text/csv"),
    ("Numbers per word (CSV)", export.tokens_csv, f"{file_stem}-tokens.csv", "text/csv"),
    ("Everything (JSON)", export.analysis_json, f"{file_stem}.json", "application/json"),
]
for column, (label, builder, file_name, mime) in zip(st.columns(len(downloads)), downloads):
    # A callable: the file is built only when someone clicks, not on every rerun.
    column.download_button(label, functools.partial(builder, analysis), file_name=file_name, mime=mime,
                           on_click="ignore", icon=":material/download:")
