"""Train page (AppTest) and browser training: a tiny uploaded CSV trains into the user-model folder, the result
loads and analyses text, bad uploads and names get messages, one training at a time, Stop works, and the
shipped model files are byte-identical afterwards."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from attnviz import train, uploads
from attnviz.model import BUNDLED_MODELS_DIRECTORY
from tests.conftest import APP_TEST_TIMEOUT

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "3_Train.py")
MODEL_CARD_PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "4_Model_card.py")
APP = str(Path(__file__).resolve().parent.parent / "app.py")
TRAINING_TIMEOUT = 240  # seconds for a tiny run on a busy 2-core machine


def tiny_csv(rows_per_class: int = 30) -> bytes:
    """Separable toy reviews: 'wonderful/lovely' positive, 'dreadful/boring' negative."""
    lines = ["text,label"]
    for index in range(rows_per_class):
        lines.append(f"a wonderful lovely film number {index},pos")
        lines.append(f"a dreadful boring film number {index},neg")
    return ("\n".join(lines) + "\n").encode("utf-8")


def shipped_model_hashes() -> dict[str, str]:
    return {str(path.relative_to(BUNDLED_MODELS_DIRECTORY)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(BUNDLED_MODELS_DIRECTORY.rglob("*")) if path.is_file()}


@pytest.fixture
def user_models(tmp_path, monkeypatch):
    directory = tmp_path / "user_models"
    monkeypatch.setenv("ATTNVIZ_USER_MODELS_DIR", str(directory))
    return directory


@pytest.fixture
def shipped_models_unchanged():
    before = shipped_model_hashes()
    assert before, "no shipped model files found"
    yield
    assert shipped_model_hashes() == before


def fresh_page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=APP_TEST_TIMEOUT).run()


def fill_tiny_settings(at: AppTest, name: str, epochs: int = 2) -> AppTest:
    at.number_input(key="train_vocabulary_size").set_value(200)
    at.select_slider(key="train_embedding_dim").set_value(8)
    at.slider(key="train_epochs").set_value(epochs)
    at.select_slider(key="train_batch_size").set_value(16)
    at.select_slider(key="train_learning_rate").set_value(0.01)
    at.text_input(key="train_name").set_value(name)
    return at.run()


def upload(at: AppTest, content: bytes, filename: str = "tiny.csv") -> AppTest:
    at.radio(key="train_source").set_value("upload").run()
    at.file_uploader[0].set_value((filename, content, "text/csv"))
    return at.run()


def test_page_renders_with_bounded_settings(user_models):
    at = fresh_page()
    assert not at.exception
    assert at.number_input(key="train_vocabulary_size").max == train.BROWSER_VOCABULARY_SIZE[1]
    assert at.slider(key="train_epochs").max == train.BROWSER_EPOCHS[1]
    assert max(at.select_slider(key="train_learning_rate").options, key=float) == str(train.BROWSER_LEARNING_RATE[1])
    assert at.button(key="train_start").disabled  # no name yet


@pytest.mark.slow
def test_tiny_upload_trains_a_loadable_model(user_models, shipped_models_unchanged):
    at = upload(fresh_page(), tiny_csv())
    assert any("60 usable rows" in message.value for message in at.success)
    at = fill_tiny_settings(at, "tiny-upload")
    assert not at.button(key="train_start").disabled
    at.button(key="train_start").click().run()
    assert not at.exception
    job = at.session_state["train_job"]
    assert at.get("progress"), "a progress bar is shown while training"
    assert job.wait(TRAINING_TIMEOUT), "training did not finish in time"
    at.run()
    assert not at.exception
    assert job.snapshot()["phase"] == "done", job.snapshot()["error"]

    # Saved atomically into the user folder, nowhere else.
    saved = user_models / "tiny-upload"
    assert sorted(p.name for p in saved.iterdir()) == ["metrics.json", "model.keras"]
    assert [p.name for p in user_models.iterdir()] == ["tiny-upload"]
    metrics = json.loads((saved / "metrics.json").read_text())
    assert metrics["corpus"] == "upload" and metrics["upload"]["rows"] == 60
    assert len(metrics["curves"]["loss"]) == 2
    assert metrics["config"]["vocabulary_size"] == 200 and metrics["config"]["embedding_dim"] == 8

    # The report shows the saved numbers; the shared model selector lists the new model.
    shown = {metric.label: metric.value for metric in at.metric}
    assert shown["Test accuracy"] == f"{metrics['test_accuracy']:.2%}"
    assert shown["Baseline (TF-IDF + logistic regression)"] == f"{metrics['baseline']['test_accuracy']:.2%}"
    assert "tiny-upload" in at.sidebar.selectbox[0].options
    assert any("./?model=tiny-upload" in markdown.value for markdown in at.markdown)

    # The model loads and its analysis works and is consistent.
    import attnviz

    model = attnviz.load_model("tiny-upload")
    analysis = model.analyze("a wonderful film")
    assert analysis.tokens == ["a", "wonderful", "film"]
    np.testing.assert_allclose(analysis.attention.sum(axis=1), 1.0, atol=1e-5)
    assert analysis.contributions.sum() + analysis.bias == pytest.approx(analysis.logit, abs=1e-4)
    assert 0.0 < analysis.probability < 1.0
    assert metrics["card"]["split_sizes"] == {key: metrics["split"][key] for key in ("train", "validation", "test")}

    # Its model card (stored in metrics.json: the uploaded file is not kept) opens and agrees with the report.
    card = AppTest.from_file(MODEL_CARD_PAGE, default_timeout=APP_TEST_TIMEOUT)
    card.query_params["model"] = "tiny-upload"
    card.run()
    assert not card.exception and not card.warning
    shown = {metric.label: metric.value for metric in card.metric}
    assert shown["Test accuracy (metrics.json)"] == shown["Test accuracy (evaluated now)"] == \
        f"{metrics['test_accuracy']:.2%}"
    assert shown["Texts"] == "60"
    assert any("tiny.csv" in block.value.replace("\\", "") for block in card.markdown)


def test_bad_upload_shows_a_message_and_blocks_training(user_models):
    at = upload(fresh_page(), b"review,score\ngreat,1\n", "bad.csv")
    assert not at.exception
    assert any("columns `text` and `label`" in error.value.replace("\\", "") for error in at.error)
    at = fill_tiny_settings(at, "never-trained")
    assert at.button(key="train_start").disabled
    for content, expected in ((b"\x00\x01binary", "binary file"), (tiny_csv(3), "Too few examples")):
        at = upload(at, content, "bad.csv")
        assert any(expected in error.value.replace("\\", "") for error in at.error), expected
    assert not user_models.exists() or not any(user_models.iterdir())


@pytest.mark.parametrize("name", ["en", "../escape", "Has Space", "auto", "x" * 41])
def test_bad_names_are_refused(user_models, name):
    at = fresh_page()
    at.text_input(key="train_name").set_value(name[:40] if len(name) <= 40 else name).run()
    assert not at.exception
    value = at.text_input(key="train_name").value
    if value != name:  # the widget itself caps the length at 40 characters
        assert len(value) <= 40
        return
    assert at.error, f"no message for {name!r}"
    assert at.button(key="train_start").disabled


def test_existing_user_model_name_is_refused(user_models):
    (user_models / "taken").mkdir(parents=True)
    (user_models / "taken" / "model.keras").write_bytes(b"placeholder")
    at = fresh_page()
    at.text_input(key="train_name").set_value("taken").run()
    assert any("already exists" in error.value for error in at.error)
    assert at.button(key="train_start").disabled


def test_second_training_gets_a_busy_message(user_models):
    assert train.TRAINING_LOCK.acquire(), "another test left the training lock taken"
    try:
        at = upload(fresh_page(), tiny_csv())
        assert any("Another model is being trained" in info.value for info in at.info)
        at = fill_tiny_settings(at, "while-busy")
        at.button(key="train_start").click().run()
        assert not at.exception
        assert any("only one training runs at a time" in warning.value for warning in at.warning)
        assert "train_job" not in at.session_state
    finally:
        train.TRAINING_LOCK.release()
    assert not (user_models / "while-busy").exists()
    with pytest.raises(train.TrainingBusyError):
        assert train.TRAINING_LOCK.acquire()
        try:
            train.start_training_job("also-busy", train.default_config("en"))
        finally:
            train.TRAINING_LOCK.release()


@pytest.mark.slow
def test_stop_button_ends_training_early_and_saves(user_models, shipped_models_unchanged):
    at = upload(fresh_page(), tiny_csv(300))
    at = fill_tiny_settings(at, "stopped", epochs=30)
    at.button(key="train_start").click().run()
    job = at.session_state["train_job"]
    at.button(key="train_stop").click().run()
    assert job.stop_event.is_set()
    assert job.wait(TRAINING_TIMEOUT)
    at.run()
    assert not at.exception
    metrics = json.loads((user_models / "stopped" / "metrics.json").read_text())
    assert metrics["stopped_by_user"] is True
    assert len(metrics["curves"]["loss"]) < 30
    assert any("stopped this training early" in caption.value for caption in at.caption)
    assert not train.TRAINING_LOCK.busy, "the lock is released when the job ends"


def test_failed_training_releases_the_lock_and_writes_nothing(user_models, monkeypatch):
    def broken_train_model(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(train, "train_model", broken_train_model)
    frame = uploads.validate_training_csv(tiny_csv()).frame
    job = train.start_training_job("broken", train.browser_training_config(
        vocabulary_size=200, embedding_dim=8, epochs=1, batch_size=16, learning_rate=0.01), frame=frame)
    assert job.wait(60)
    snapshot = job.snapshot()
    assert snapshot["phase"] == "failed" and "Nothing was saved" in snapshot["error"]
    assert not train.TRAINING_LOCK.busy
    assert not (user_models / "broken").exists()


def test_user_folder_inside_shipped_models_is_refused(monkeypatch):
    monkeypatch.setenv("ATTNVIZ_USER_MODELS_DIR", str(BUNDLED_MODELS_DIRECTORY))
    with pytest.raises(uploads.ModelNameError, match="inside the shipped models"):
        train.user_model_directory_for("sneaky")


def test_browser_config_bounds():
    with pytest.raises(ValueError, match="epochs must be between 1 and 30"):
        train.browser_training_config(vocabulary_size=1000, embedding_dim=8, epochs=31, batch_size=16,
                                      learning_rate=0.01)
    config = train.browser_training_config(vocabulary_size=1000, embedding_dim=8, epochs=3, batch_size=16,
                                           learning_rate=0.01, language="zh")
    assert config.model.language == "zh" and config.epochs == 3


def test_number_of_user_models_is_limited(user_models, monkeypatch):
    monkeypatch.setattr(train, "MAX_USER_MODELS", 2)
    for name in ("first", "second"):
        (user_models / name).mkdir(parents=True)
        (user_models / name / "model.keras").write_bytes(b"placeholder")
    with pytest.raises(train.TooManyUserModelsError, match="already keeps 2 trained models"):
        train.user_model_directory_for("third")
    at = fresh_page()
    at.text_input(key="train_name").set_value("third").run()
    assert any("already keeps 2 trained models" in error.value for error in at.error)
    assert at.button(key="train_start").disabled


def test_train_page_is_reachable_from_the_app(user_models):
    at = AppTest.from_file(APP, default_timeout=APP_TEST_TIMEOUT).run()
    at.switch_page("pages/3_Train.py").run()
    assert not at.exception
    assert at.title[0].value == "Train your own attention model"
