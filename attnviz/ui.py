"""The only attnviz module that imports Streamlit: cached loaders and widgets shared by every page.

Pages call these helpers, read widgets and render; they never compute attention themselves.
"""

from __future__ import annotations

import streamlit as st

import attnviz
from attnviz.analysis import Analysis

DEFAULT_TEXT = "A gorgeous, witty film that never feels long."
TEXT_PARAMETER = "text"


@st.cache_resource(show_spinner="Loading the trained model (TensorFlow starts once per server)…")
def get_model(name: str | None = None):
    """The model, loaded once per server process and shared by all sessions (never mutate it)."""
    return attnviz.load_model(name)


def analyze(text: str, model_name: str | None = None) -> Analysis:
    """Analyse ``text`` with the cached model. Raises ``attnviz.EmptyInputError`` for unreadable text."""
    return get_model(model_name).analyze(text)


def text_from_url(default: str = DEFAULT_TEXT) -> str:
    """The sentence from the ``text`` query parameter, or ``default``."""
    value = st.query_params.get(TEXT_PARAMETER)
    return value if value is not None else default
