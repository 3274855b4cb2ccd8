"""The only attnviz module that imports Streamlit: cached loaders and widgets shared by every page.

Pages call these helpers, read widgets and render; they never compute attention themselves.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import streamlit as st

import attnviz
from attnviz.analysis import Analysis
from attnviz.errors import AttnvizError, DataUnavailableError, EmptyInputError, ModelLoadError

DEFAULT_TEXT = "a gorgeous, witty and moving film: a film to love"  # = the "Clearly positive" preset
TEXT_PARAMETER = "text"
MODEL_PARAMETER = "model"
CLASSROOM_PARAMETER = "classroom"

# Session-state keys shared by every page (plain keys, not widget keys: Streamlit deletes a widget's state
# when the user switches to a page that does not render it, so each page's widgets copy into these).
TEXT_STATE = "text"
MODEL_STATE = "model_name"
CLASSROOM_STATE = "classroom"
_MODEL_WIDGET = "_sidebar_model_choice"
_CLASSROOM_WIDGET = "_sidebar_classroom_toggle"
_URL_SEEN_PREFIX = "_url_seen_"  # the last value of each URL parameter this session read or wrote

MAX_URL_TEXT_CHARACTERS = 4000  # longer sentences stay in the session but are left out of the URL
NORMAL_FONT_SIZE = 13
CLASSROOM_FONT_SIZE = 18
T = TypeVar("T")


# Streamlit runs every script run in a fresh thread, and TensorFlow's first call in a new thread sets up
# per-thread state: measured 10-100 ms on each rerun (vs ~2 ms for the whole analysis in a warm thread). A few
# long-lived worker threads keep that state warm; several, so one long batch does not block other users.
_MODEL_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="attnviz-model")


def in_model_thread(function: Callable[..., T], *args, **kwargs) -> T:
    """Run ``function(*args, **kwargs)`` (a model call) on a warm worker thread and return its result;
    exceptions are re-raised here. Use it for ``analyze_many`` / ``predict_proba`` calls in pages too."""
    return _MODEL_THREADS.submit(function, *args, **kwargs).result()


@st.cache_resource(show_spinner="Loading the trained model (TensorFlow starts once per server)…")
def get_model(name: str | None = None):
    """The model, loaded once per server process and shared by all sessions (never mutate it)."""
    model = attnviz.load_model(name)
    # Streamlit runs gc.collect(2) after every script run; with TensorFlow and Keras loaded that walked
    # millions of long-lived objects (~300 ms per rerun here). Freezing them takes them out of every
    # later collection (they live as long as the process anyway): ~10 ms per rerun.
    gc.collect()
    gc.freeze()
    return model


def analyze(text: str, model_name: str | None = None) -> Analysis:
    """Analyse ``text`` with the cached model. Raises ``attnviz.EmptyInputError`` for unreadable text."""
    return in_model_thread(get_model(model_name).analyze, text)


# ----- shared page helpers (every page calls page_setup first) -------------------------------------------
_CLASSROOM_CSS = """
<style>
[data-testid="stAppViewContainer"] [data-testid="stMarkdownContainer"] p,
[data-testid="stAppViewContainer"] [data-testid="stMarkdownContainer"] li { font-size: 1.25rem; }
[data-testid="stAppViewContainer"] h1 { font-size: 3rem; }
[data-testid="stAppViewContainer"] [data-testid="stTextInput"] input { font-size: 1.4rem; }
[data-testid="stAppViewContainer"] [data-testid="stCaptionContainer"] { font-size: 1.1rem; }
[data-testid="stAppViewContainer"] [data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p {
  font-size: 3rem; }
</style>
"""  # static CSS only: never put user text in here


def markdown_safe(text: str) -> str:
    """Backslash-escape every ASCII punctuation mark so Streamlit markdown shows ``text`` literally.

    Covers links/images, emphasis, ``$`` LaTeX, ``:color[...]`` directives and raw HTML (``<``).
    """
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", str(text)).replace("\n", "  \n")


def markdown_message(text: str) -> str:
    """Like ``markdown_safe``, but text between backticks stays a code span, shown verbatim.

    Error messages put commands in backticks (``git checkout -- models/``); escaped outside a code span,
    the browser's Markdown turns ``--`` into an em dash and the command shown would be wrong.
    """
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code spans, escape everything
        return markdown_safe(text)
    return "".join(f"`{part}`" if index % 2 else markdown_safe(part) for index, part in enumerate(parts))


def adopt_url_value(parameter: str, state_key: str, parse: Callable[[str], Any] | None = None) -> None:
    """Copy a URL parameter into session state when it is new to this session (first load, shared link,
    or a page link that carries query parameters); afterwards session state is the source of truth.
    ``parse`` turns the raw string into the stored value (default: keep the string)."""
    raw = st.query_params.get(parameter)
    seen_key = _URL_SEEN_PREFIX + parameter
    if raw is not None and raw != st.session_state.get(seen_key):
        st.session_state[state_key] = parse(raw) if parse else raw
        st.session_state[seen_key] = raw


def write_url_value(parameter: str, value: str | None) -> None:
    """Put ``value`` in the URL (or remove the parameter for ``None``), touching it only when it changes."""
    if value is None:
        if parameter in st.query_params:
            del st.query_params[parameter]
    elif st.query_params.get(parameter) != value:
        st.query_params[parameter] = value
    st.session_state[_URL_SEEN_PREFIX + parameter] = value


def model_choices() -> list[str]:
    """Names for the model selector: "auto" (the default: each sentence goes to the bundled model of its
    script, Chinese → zh, else en), then the bundled models, then models trained in the browser."""
    from attnviz.model import AUTO_MODEL_NAME, DEFAULT_MODEL_NAME, bundled_model_names, user_model_names

    bundled = bundled_model_names()
    automatic = [AUTO_MODEL_NAME] if DEFAULT_MODEL_NAME in bundled else []
    return automatic + bundled + [name for name in user_model_names() if name not in bundled]


def default_model_choice(choices: list[str]) -> str | None:
    """The selector's default: "auto" when it is offered, else the shipped default model, else the first."""
    from attnviz.model import AUTO_MODEL_NAME, DEFAULT_MODEL_NAME

    for name in (AUTO_MODEL_NAME, DEFAULT_MODEL_NAME):
        if name in choices:
            return name
    return choices[0] if choices else None


def model_choice_label(name: str) -> str:
    """How the selector shows a model name ("auto" gets an explanation)."""
    from attnviz.model import AUTO_MODEL_NAME

    return "auto (English or 中文, by script)" if name == AUTO_MODEL_NAME else name


def current_model_name() -> str | None:
    """The selected model (URL ``model`` → session state), falling back to the default; None if none exist."""
    adopt_url_value(MODEL_PARAMETER, MODEL_STATE)
    choices = model_choices()
    name = st.session_state.get(MODEL_STATE)
    if name in choices:
        return name
    return default_model_choice(choices)


def is_classroom() -> bool:
    """True when classroom mode is on (URL ``classroom=1`` or the sidebar toggle)."""
    adopt_url_value(CLASSROOM_PARAMETER, CLASSROOM_STATE)
    value = st.session_state.get(CLASSROOM_STATE, False)
    if isinstance(value, str):  # from the URL
        value = value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def figure_font_size() -> int:
    """Font size for figures: larger in classroom mode so the back row can read them."""
    return CLASSROOM_FONT_SIZE if is_classroom() else NORMAL_FONT_SIZE


def explanation(title: str):
    """An expander for plain-language explanations: open normally, collapsed in classroom mode
    (the teacher explains). Use as ``with ui.explanation("What am I looking at?"): st.markdown(...)``."""
    return st.expander(title, expanded=not is_classroom())


def shared_text(default: str = DEFAULT_TEXT) -> str:
    """The current sentence shared by all pages: URL ``text`` if new, else session state, else ``default``."""
    adopt_url_value(TEXT_PARAMETER, TEXT_STATE)
    value = st.session_state.get(TEXT_STATE)
    return value if isinstance(value, str) else default


def set_shared_text(text: str) -> None:
    """Store the current sentence in session state and in the URL (so copying the URL reproduces the view)."""
    st.session_state[TEXT_STATE] = text
    write_url_value(TEXT_PARAMETER, text if text and len(text) <= MAX_URL_TEXT_CHARACTERS else None)


def _copy_widget_to_state(widget_key: str, state_key: str) -> None:
    st.session_state[state_key] = st.session_state[widget_key]


def page_setup(title: str, icon: str = "🔎") -> None:
    """Configure the page and draw the shared sidebar (model selector, classroom toggle). Call it first.

    Also writes the model and classroom choices back to the URL, so a copied link reproduces them.
    """
    classroom = is_classroom()
    st.set_page_config(page_title=f"{title} · attnviz", page_icon=icon, layout="wide",
                       initial_sidebar_state="collapsed" if classroom else "auto")
    choices = model_choices()
    selected_model = current_model_name()
    with st.sidebar:
        if choices:
            # Set the widget from the shared key each run: the widget's own state does not survive a page switch.
            st.session_state[_MODEL_WIDGET] = selected_model
            st.selectbox("Model", choices, key=_MODEL_WIDGET, on_change=_copy_widget_to_state,
                         args=(_MODEL_WIDGET, MODEL_STATE), format_func=model_choice_label,
                         help="Which trained classifier reads the sentence. Models you train appear here too.")
        else:
            st.error("No trained model was found. Train one with `python -m attnviz train`.")
        st.session_state[_CLASSROOM_WIDGET] = classroom
        st.toggle("Classroom mode", key=_CLASSROOM_WIDGET, on_change=_copy_widget_to_state,
                  args=(_CLASSROOM_WIDGET, CLASSROOM_STATE),
                  help="Bigger text and figures for a projector; explanations start collapsed.")
    if classroom:
        st.markdown(_CLASSROOM_CSS, unsafe_allow_html=True)
    st.session_state[MODEL_STATE] = selected_model
    st.session_state[CLASSROOM_STATE] = classroom
    write_url_value(MODEL_PARAMETER,
                     selected_model if selected_model not in (None, default_model_choice(choices)) else None)
    write_url_value(CLASSROOM_PARAMETER, "1" if classroom else None)


def show_error(error: BaseException) -> None:
    """Show an error as a friendly message (never a traceback). User text inside messages is escaped."""
    if isinstance(error, EmptyInputError):
        st.info(markdown_message(str(error)), icon=":material/edit_note:")
    elif isinstance(error, DataUnavailableError):
        st.warning(markdown_message(str(error)), icon=":material/cloud_off:")
    elif isinstance(error, ModelLoadError | AttnvizError):
        st.error(markdown_message(str(error)), icon=":material/error:")
    else:
        st.error("Something unexpected went wrong while analysing this text. Try another sentence, or reload "
                 f"the page. ({markdown_safe(type(error).__name__)})", icon=":material/error:")
