"""Train: fit your own attention model on the bundled corpus or an uploaded CSV, watch it learn, save it.

How the live view and the Stop button work: Streamlit runs a button's code only in the *next* script run, so
a training that ran inside the script would block its own Stop button. The training therefore runs in a
background thread (``train.TrainingJob``) kept in ``st.session_state``; Keras callbacks record every batch and
epoch, and a fragment re-draws the progress bar and curves every second from ``job.snapshot()``. Stop sets a
``threading.Event`` that the callbacks check after every batch. One training per server: ``TRAINING_LOCK``.
"""

from __future__ import annotations

import streamlit as st

from attnviz import data, figures, train, ui, uploads
from attnviz.errors import AttnvizError

JOB_STATE = "train_job"           # the TrainingJob of this session (survives page switches)
POLL_SECONDS = 1.0                # how often the progress fragment re-draws while training runs
PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"filename": "attnviz-training"}}
DEFAULTS = train.default_config("en")
# The defaults are always offered, even if the tuned defaults change (select_slider needs them in its options).
EMBEDDING_CHOICES = sorted({4, 8, 16, 32, 64, 128, DEFAULTS.model.embedding_dim})
BATCH_SIZE_CHOICES = sorted({8, 16, 32, 64, 128, 256, 512, DEFAULTS.batch_size})
LEARNING_RATE_CHOICES = sorted({0.0001, 0.0003, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.05, DEFAULTS.learning_rate})
DEFAULT_EPOCHS = min(10, train.BROWSER_EPOCHS[1])  # early stopping usually ends sooner

UPLOAD_RULES = f"""
- A **CSV** file (comma, semicolon or tab separated), UTF-8 preferred, at most
  **{uploads.MAX_UPLOAD_BYTES // (1024 * 1024)} MB** and **{uploads.MAX_ROWS:,} rows**.
- A header line with the columns **`text`** and **`label`** (other columns are ignored).
- Labels in **two classes**: `0`/`1`, `neg`/`pos`, `negative`/`positive`, `false`/`true`, `rotten`/`fresh`.
- At least **{uploads.MIN_ROWS_PER_CLASS} rows per class**; rows with an empty text or label are dropped,
  duplicate texts keep their first row, texts longer than {uploads.MAX_TEXT_CHARACTERS:,} characters are cut.
- The file stays on this server only while it trains; the saved model keeps its vocabulary (the words of
  your texts) and its ten most confidently wrong test sentences (for the model card).
"""

PHASE_MESSAGES = {
    "starting": "Preparing the data and building the vocabulary…",
    "training": "Training…",
    "evaluating": "Training finished. Evaluating on the test split, fitting the baseline and saving…",
}


@st.cache_data(max_entries=4, show_spinner="Checking the file…")
def validated_upload(content: bytes, filename: str) -> uploads.TrainingUpload:
    return uploads.validate_training_csv(content, filename)


def draw_progress(snapshot: dict, font_size: int) -> None:
    """Progress bar, phase and live curves of a running (or finished) job."""
    epoch_text = f"epoch {min(snapshot['epochs_completed'] + 1, snapshot['epochs'])} of at most {snapshot['epochs']}"
    if snapshot["batches_per_epoch"]:
        epoch_text += f", batch {snapshot['batches_done']} of {snapshot['batches_per_epoch']}"
    message = PHASE_MESSAGES.get(snapshot["phase"], "")
    st.progress(snapshot["fraction"], text=f"{message} ({epoch_text}, {snapshot['seconds']:.0f} s)"
                if snapshot["phase"] == "training" else message or "Done.")
    if snapshot["stop_requested"] and snapshot["phase"] in ("starting", "training"):
        st.info("Stopping after the current batch; the best epoch so far will be evaluated and saved.")
    if snapshot["curves"].get("loss"):
        st.plotly_chart(figures.training_curves_figure(snapshot["curves"], total_epochs=snapshot["epochs"],
                                                       font_size=font_size),
                        config=PLOTLY_CONFIG, key="train_live_curves")
    else:
        st.caption("The loss and accuracy curves appear after the first epoch.")


def show_running(job: train.TrainingJob) -> None:
    st.info(f"Training the model **{ui.markdown_safe(job.name)}**. You can explore other pages meanwhile; "
            "the training keeps running and this page shows it when you come back.")
    font_size = ui.figure_font_size()

    @st.fragment(run_every=POLL_SECONDS)
    def live_progress() -> None:
        snapshot = job.snapshot()
        if snapshot["phase"] in ("done", "failed"):
            st.rerun()  # the whole page: the report, and the sidebar selector now lists the new model
        draw_progress(snapshot, font_size)
        st.button("Stop training", key="train_stop", on_click=job.request_stop,
                  disabled=snapshot["stop_requested"] or snapshot["phase"] == "evaluating",
                  help="Ends training after the current batch. The weights of the best epoch so far are kept, "
                       "evaluated and saved, like early stopping.")

    live_progress()


def clear_job() -> None:
    st.session_state.pop(JOB_STATE, None)


def show_report(job: train.TrainingJob) -> None:
    snapshot = job.snapshot()
    if snapshot["phase"] == "failed":
        st.error(ui.markdown_safe(snapshot["error"] or "Training failed."), icon="⚠️")
        st.button("Dismiss", key="train_dismiss", on_click=clear_job)
        return
    metrics = snapshot["metrics"]
    name = ui.markdown_safe(job.name)
    st.success(f"Saved the model **{name}**. It is now in the model selector in the sidebar.", icon="✅")
    st.header("Report")
    baseline = metrics.get("baseline", {})
    curves = metrics.get("curves", {})
    columns = st.columns(4)
    columns[0].metric("Test accuracy", f"{metrics['test_accuracy']:.2%}")
    if baseline.get("test_accuracy") is not None:
        columns[1].metric("Baseline (TF-IDF + logistic regression)", f"{baseline['test_accuracy']:.2%}",
                          delta=f"{(metrics['test_accuracy'] - baseline['test_accuracy']) * 100:+.2f} points "
                                "for attention")
    columns[2].metric("Epochs run", len(curves.get("loss", [])),
                      help=f"The weights of epoch {curves.get('best_epoch')} (best validation loss) were kept.")
    columns[3].metric("Training time", f"{metrics.get('training_seconds', 0):.0f} s")
    if metrics.get("stopped_by_user"):
        st.caption("You stopped this training early; the best epoch before the stop was kept.")
    st.plotly_chart(figures.training_curves_figure(curves, best_epoch=curves.get("best_epoch"),
                                                   font_size=ui.figure_font_size()),
                    config=PLOTLY_CONFIG, key="train_final_curves")
    # The name is a validated slug, so these relative links need no further escaping.
    st.markdown(f"[Explore with **{name}**](./?model={job.name}) · "
                f"[Open its model card](./Model_card?model={job.name})")
    st.button("Train another model", key="train_again", on_click=clear_job)


def choose_data() -> tuple[dict, str | None]:
    """Widgets for the training data. Returns (keyword arguments for the job, reason it cannot start)."""
    st.header("1. Data")
    source = st.radio("Training data", ["bundled", "upload"], horizontal=True, key="train_source",
                      format_func=lambda value: {"bundled": "A bundled corpus",
                                                 "upload": "Upload a CSV file"}[value])
    if source == "bundled":
        corpus = st.selectbox("Corpus", list(data.CORPORA), key="train_corpus",
                              format_func=lambda name: f"{name}: {data.CORPORA[name].description}")
        st.caption(f"Licence: {ui.markdown_safe(data.CORPORA[corpus].licence)}. Split 80 / 10 / 10 by label, "
                   "the same split as the shipped model.")
        return {"corpus": corpus, "frame": None, "upload_filename": None, "language": corpus}, None
    uploaded = st.file_uploader("CSV with the columns `text` and `label`", type=["csv", "txt", "tsv"],
                                key="train_upload", max_upload_size=uploads.MAX_UPLOAD_BYTES // (1024 * 1024))
    with ui.explanation("Upload rules"):
        st.markdown(UPLOAD_RULES)
    if uploaded is None:
        return {}, "Upload a CSV file first."
    try:
        upload = validated_upload(uploaded.getvalue(), uploaded.name)
    except AttnvizError as error:
        ui.show_error(error)
        return {}, "Fix the file and upload it again."
    counts = upload.class_counts
    st.success(f"{len(upload.frame):,} usable rows: {counts[0]:,} negative and {counts[1]:,} positive.")
    for note in upload.notes:
        st.info(ui.markdown_safe(note))
    st.dataframe(upload.frame.head(8), hide_index=True, width="stretch")
    from attnviz.text import detect_language

    language = detect_language(" ".join(upload.frame["text"].head(200)))
    return {"corpus": "upload", "frame": upload.frame, "upload_filename": uploaded.name, "language": language}, None


def choose_settings() -> dict:
    st.header("2. Settings")
    left, middle, right = st.columns(3)
    with left:
        vocabulary_size = st.number_input(
            "Vocabulary size", min_value=train.BROWSER_VOCABULARY_SIZE[0], max_value=train.BROWSER_VOCABULARY_SIZE[1],
            value=DEFAULTS.model.vocabulary_size, step=1000, key="train_vocabulary_size",
            help="At most this many distinct words get an embedding; rarer words become [UNK].")
        embedding_dim = st.select_slider("Embedding width d", EMBEDDING_CHOICES, value=DEFAULTS.model.embedding_dim,
                                         key="train_embedding_dim", help="Numbers per word vector x_i.")
    with middle:
        epochs = st.slider("Epochs (at most)", train.BROWSER_EPOCHS[0], train.BROWSER_EPOCHS[1], DEFAULT_EPOCHS,
                           key="train_epochs", help=f"Training also stops when the validation loss has not improved "
                                                    f"for {DEFAULTS.patience} epochs (early stopping).")
        batch_size = st.select_slider("Batch size", BATCH_SIZE_CHOICES, value=DEFAULTS.batch_size,
                                      key="train_batch_size")
    with right:
        learning_rate = st.select_slider("Learning rate (Adam)", LEARNING_RATE_CHOICES,
                                         value=DEFAULTS.learning_rate, key="train_learning_rate")
    return {"vocabulary_size": int(vocabulary_size), "embedding_dim": int(embedding_dim), "epochs": int(epochs),
            "batch_size": int(batch_size), "learning_rate": float(learning_rate)}


def choose_name() -> tuple[str, str | None]:
    st.header("3. Name and train")
    name = st.text_input("Model name", key="train_name", max_chars=40, placeholder="my-reviews-1",
                         help="1-40 lower-case letters, digits, - or _. Shipped models cannot be replaced.")
    if not name:
        return name, "Give the model a name."
    try:
        train.user_model_directory_for(name)
    except AttnvizError as error:
        ui.show_error(error)
        return name, "Choose another name."
    return name, None


def start(name: str, data_choice: dict, settings: dict) -> None:
    try:
        config = train.browser_training_config(**settings, language=data_choice["language"])
        job = train.start_training_job(name, config, corpus=data_choice["corpus"], frame=data_choice["frame"],
                                       upload_filename=data_choice["upload_filename"])
    except train.TrainingBusyError as error:
        st.warning(ui.markdown_safe(str(error)), icon="⏳")
        return
    except AttnvizError as error:
        ui.show_error(error)
        return
    except ValueError as error:  # a setting out of bounds (the widgets already prevent it)
        st.error(ui.markdown_safe(str(error)))
        return
    st.session_state[JOB_STATE] = job
    st.rerun()


def main() -> None:
    ui.page_setup("Train", icon="🏋️")
    st.title("Train your own attention model")
    st.markdown("The attention weights you explore are not designed by hand: they come from training. Train the "
                "same architecture on the bundled reviews or on your own labelled sentences, watch the loss fall, "
                "and compare the result with a classic baseline. The shipped model is never changed.")
    job = st.session_state.get(JOB_STATE)
    if job is not None and not job.finished:
        show_running(job)
        return
    if job is not None:
        show_report(job)
        st.divider()
    if train.TRAINING_LOCK.busy:
        st.info("Another model is being trained on this server right now; please wait until it finishes.",
                icon="⏳")
    data_choice, data_problem = choose_data()
    settings = choose_settings()
    name, name_problem = choose_name()
    problem = data_problem or name_problem
    if st.button("Train", type="primary", key="train_start", disabled=problem is not None,
                 help=problem or "Start training in the background."):
        start(name, data_choice, settings)


main()
