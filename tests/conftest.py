"""Shared fixtures: TensorFlow and the model load once per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

APP_TEST_TIMEOUT = 60  # seconds; TensorFlow's import and the first model load are slow


@pytest.fixture(scope="session")
def model():
    """The shipped default English model (loaded once, shared by every test)."""
    import attnviz

    return attnviz.load_model("en")


@pytest.fixture(scope="session")
def english_split():
    """The deterministic train/validation/test split of the English corpus (downloaded once, cached)."""
    from attnviz import data

    return data.load_split("en")
