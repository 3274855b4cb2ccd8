"""Hardening: broken model files give clear messages (library, readiness check, every page), and the
production Streamlit config keeps its safe defaults.

Every test corrupts a COPY of the shipped model in ``tmp_path``; ``models/`` itself is never touched.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

import attnviz
from attnviz import health
from attnviz.errors import ModelLoadError
from attnviz.model import BUNDLED_MODELS_DIRECTORY, METRICS_FILENAME, MODEL_FILENAME
from tests.conftest import APP_TEST_TIMEOUT

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
RESTORE_HINTS = ("git checkout -- models/", "python -m attnviz train")


def copy_of_shipped_model(tmp_path: Path, name: str = "broken") -> Path:
    directory = tmp_path / name
    shutil.copytree(BUNDLED_MODELS_DIRECTORY / "en", directory)
    return directory


def corrupt(directory: Path, how: str) -> None:
    """Damage a model directory the ways disks, interrupted copies and hand edits do."""
    model_file, metrics_file = directory / MODEL_FILENAME, directory / METRICS_FILENAME
    if how == "garbage model":
        model_file.write_bytes(b"this is not a zip archive\x00" * 100)
    elif how == "truncated model":
        model_file.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
    elif how == "empty model":
        model_file.write_bytes(b"")
    elif how == "missing model":
        model_file.unlink()
    elif how == "invalid metrics":
        metrics_file.write_text('{"config": {"embedding_dim": ', encoding="utf-8")
    elif how == "missing metrics":
        metrics_file.unlink()
    else:
        raise ValueError(how)


MODEL_DAMAGE = ("garbage model", "truncated model", "empty model", "missing model")
METRICS_DAMAGE = ("invalid metrics", "missing metrics")


@pytest.mark.parametrize("how", MODEL_DAMAGE + METRICS_DAMAGE)
def test_damaged_model_directory_raises_a_model_load_error_that_says_what_to_do(tmp_path, how):
    directory = copy_of_shipped_model(tmp_path)
    corrupt(directory, how)
    with pytest.raises(ModelLoadError) as raised:
        attnviz.load_model(directory)
    message = str(raised.value)
    assert "python -m attnviz train" in message  # how to recover
    assert str(directory) in message or directory.name in message  # which model is broken
    assert "Traceback" not in message


@pytest.mark.parametrize("how", ["garbage model", "truncated model"])
def test_corrupted_model_message_names_the_file_and_the_restore_command(tmp_path, how):
    directory = copy_of_shipped_model(tmp_path)
    corrupt(directory, how)
    with pytest.raises(ModelLoadError, match="could not be loaded") as raised:
        attnviz.load_model(directory)
    assert all(hint in str(raised.value) for hint in RESTORE_HINTS)
    assert str(directory / MODEL_FILENAME) in str(raised.value)


def test_intact_copy_still_loads(tmp_path, model):
    """Control for the tests above: the copy itself is fine until it is corrupted."""
    copy = attnviz.load_model(copy_of_shipped_model(tmp_path, "intact"))
    text = "a gorgeous witty film"
    assert copy.analyze(text).probability == pytest.approx(model.analyze(text).probability, abs=1e-6)


# ----- readiness check -----------------------------------------------------------------------------------
def test_readiness_check_passes_for_the_shipped_model(model, capsys):
    report = health.check_readiness("en")
    assert report.ready, report.message
    assert report.n_tokens > 0 and 0.0 <= report.probability <= 1.0
    assert health.main(["--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["ready"] is True and printed["model"]  # the default's name ("en", or "auto" routing)


@pytest.mark.parametrize("how", ["garbage model", "missing metrics"])
def test_readiness_check_fails_with_the_reason_for_a_broken_model(tmp_path, capsys, how):
    directory = copy_of_shipped_model(tmp_path)
    corrupt(directory, how)
    report = health.check_readiness(str(directory))
    assert not report.ready
    assert "python -m attnviz train" in report.message
    assert health.main(["--model", str(directory)]) == 1
    assert "NOT READY" in capsys.readouterr().err


def test_readiness_check_fails_for_an_unknown_model():
    report = health.check_readiness("no-such-model-anywhere")
    assert not report.ready and "No model named" in report.message


# ----- the app with a broken model -----------------------------------------------------------------------
def app_pages() -> list[str]:
    pages = sorted((REPOSITORY_ROOT / "pages").glob("*.py"))
    return ["app.py", *(str(path.relative_to(REPOSITORY_ROOT)) for path in pages)]


@pytest.fixture
def broken_user_model(tmp_path, monkeypatch):
    """A corrupted model offered as a user model (as if a browser training had been cut off mid-write)."""
    user_models = tmp_path / "user_models"
    corrupt(copy_of_shipped_model(user_models, "broken"), "garbage model")
    monkeypatch.setenv("ATTNVIZ_USER_MODELS_DIR", str(user_models))
    return "broken"


def run_page(page: str, query: dict[str, str]):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(REPOSITORY_ROOT / page), default_timeout=APP_TEST_TIMEOUT)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def test_explore_page_explains_a_corrupted_model_instead_of_a_traceback(model, broken_user_model):
    app = run_page("app.py", {"model": broken_user_model, "text": "a gorgeous witty film"})
    assert not app.exception, [element.value for element in app.exception]
    messages = " ".join(element.value for element in app.error)
    assert "could not be loaded" in messages
    assert "python \\-m attnviz train" in messages or "python -m attnviz train" in messages
    assert not app.get("plotly_chart"), "no heatmap may be drawn from a model that did not load"


@pytest.mark.parametrize("page", app_pages())
def test_no_page_shows_an_exception_with_a_corrupted_model_selected(model, broken_user_model, page):
    app = run_page(page, {"model": broken_user_model})
    assert not app.exception, [element.value for element in app.exception]


def test_explore_page_explains_when_no_model_is_installed(model, tmp_path, monkeypatch):
    """Shipped models folder empty (e.g. a checkout without models/): a clear message, no traceback."""
    from attnviz import model as model_module
    from attnviz import ui

    monkeypatch.setattr(model_module, "BUNDLED_MODELS_DIRECTORY", tmp_path / "no-models")
    monkeypatch.setenv("ATTNVIZ_USER_MODELS_DIR", str(tmp_path / "no-user-models"))
    ui.get_model.clear()  # st.cache_resource is per process: forget models loaded by earlier tests
    try:
        app = run_page("app.py", {})
    finally:
        ui.get_model.clear()
    assert not app.exception, [element.value for element in app.exception]
    messages = " ".join(element.value for element in app.error)
    assert "python \\-m attnviz train" in messages or "python -m attnviz train" in messages
    assert not app.get("plotly_chart")


# ----- production config ---------------------------------------------------------------------------------
def test_streamlit_config_keeps_its_production_defaults():
    config = tomllib.loads((REPOSITORY_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showErrorDetails"] in ("none", False)  # no tracebacks for users
    assert config["client"]["toolbarMode"] == "viewer"
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["maxUploadSize"] <= 10  # MB
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"].get("enableCORS", True) is True


# ----- how error messages are displayed ----------------------------------------------------------------
def test_error_messages_keep_commands_verbatim_and_escape_everything_else():
    from attnviz.ui import markdown_message

    shown = markdown_message("Restore <b>it</b> with `git checkout -- models/` or run `python -m attnviz train`.")
    assert "`git checkout -- models/`" in shown  # a code span: no "--" → "—", no backslashes
    assert "`python -m attnviz train`" in shown
    assert "\\<b\\>" in shown  # HTML outside the code spans is escaped
    assert markdown_message("an unpaired ` backtick <i>") == "an unpaired \\` backtick \\<i\\>"
