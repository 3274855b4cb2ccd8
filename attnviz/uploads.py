"""Validation of what a browser user hands to the Train page: a training CSV and a model name.

Everything here is plain Python + pandas (no TensorFlow, no Streamlit), so it is fast to test. Every problem
raises ``UploadError`` or ``ModelNameError`` whose message can be shown to the user as it is.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from attnviz.errors import AttnvizError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024      # also the server's maxUploadSize in .streamlit/config.toml
MAX_ROWS = 30_000                        # the bundled English corpus has about 12,750 rows
MIN_ROWS_PER_CLASS = 10                  # the 80/10/10 split needs ≥ 1 validation and test row per class
MAX_TEXT_CHARACTERS = 5_000              # longer texts are cut (the model reads at most 256 tokens anyway)
REQUIRED_COLUMNS = ("text", "label")

# Accepted spellings of the two classes (compared after strip + lower-case).
POSITIVE_LABELS = frozenset({"1", "1.0", "pos", "positive", "true", "yes", "y", "fresh", "good", "+", "+1"})
NEGATIVE_LABELS = frozenset({"0", "0.0", "neg", "negative", "false", "no", "n", "rotten", "bad", "-", "-1"})

MODEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# Names a user model may never take, besides the bundled model names: the selector's special choices and the
# corpus names (the shipped models are named after their corpus).
RESERVED_MODEL_NAMES = frozenset({"auto", "default", "en", "zh", "models", "user_models", "con", "nul", "prn",
                                  "aux"})


class UploadError(AttnvizError, ValueError):
    """The uploaded training file cannot be used; the message says why and what to do."""


class ModelNameError(AttnvizError, ValueError):
    """The requested model name is not allowed; the message says why."""


@dataclass(frozen=True)
class TrainingUpload:
    """A validated training table: ``frame`` has columns ``text`` (str) and ``label`` (int, 1 = positive)."""

    frame: pd.DataFrame
    encoding: str
    notes: list[str] = field(default_factory=list)  # what was changed or assumed, for the user to read

    @property
    def class_counts(self) -> dict[int, int]:
        counts = self.frame["label"].value_counts()
        return {label: int(counts.get(label, 0)) for label in (0, 1)}


def decode_upload(content: bytes) -> tuple[str, str, list[str]]:
    """Decode uploaded bytes: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252 with a note.

    Returns ``(text, encoding name, notes)``; raises ``UploadError`` for binary files.
    """
    notes: list[str] = []
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return content.decode("utf-16"), "utf-16", notes
        except UnicodeDecodeError as error:
            raise UploadError(f"The file starts like UTF-16 text but cannot be decoded ({error.reason}). "
                              "Save it as 'CSV UTF-8' and upload it again.") from error
    if b"\x00" in content:
        raise UploadError("This looks like a binary file (a spreadsheet such as .xlsx, or a compressed file), "
                          "not a CSV text file. In your spreadsheet program choose 'Save as' → 'CSV UTF-8'.")
    try:
        return content.decode("utf-8-sig"), "utf-8", notes
    except UnicodeDecodeError:
        pass
    try:
        decoded = content.decode("cp1252")
    except UnicodeDecodeError as error:
        raise UploadError("The file is not UTF-8 text and not Windows-1252 either. Save it as 'CSV UTF-8' "
                          "and upload it again.") from error
    notes.append("The file is not UTF-8, so it was read as Windows-1252 (Western European). If accented "
                 "letters look wrong, save it as 'CSV UTF-8' and upload it again.")
    return decoded, "cp1252", notes


def _read_table(text: str) -> pd.DataFrame:
    """Parse CSV text with a comma, or with ``;`` / tab when that is what the header line uses."""
    header_line = text.lstrip().split("\n", 1)[0]
    separators = [","] + [s for s in (";", "\t") if s in header_line]
    frame = None
    for separator in separators:
        try:
            frame = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False,
                                skip_blank_lines=True, quoting=csv.QUOTE_MINIMAL)
        except pd.errors.EmptyDataError as error:
            raise UploadError("The file is empty. It needs a header line `text,label` and one row per "
                              "example.") from error
        except (pd.errors.ParserError, csv.Error, ValueError) as error:
            raise UploadError(f"The file is not a valid CSV table ({str(error).strip()}). Quote texts that "
                              "contain commas or line breaks with double quotes.") from error
        frame.columns = [str(column).strip().lower() for column in frame.columns]
        if set(REQUIRED_COLUMNS) <= set(frame.columns):
            return frame
    assert frame is not None
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    found = ", ".join(repr(column) for column in list(frame.columns)[:8]) or "none"
    raise UploadError(f"The CSV needs the columns `text` and `label`; missing: {', '.join(missing)} "
                      f"(found: {found}). The first line must be the header, e.g. `text,label`.")


def label_to_class(value: str) -> int | None:
    """1 for a positive spelling, 0 for a negative one, ``None`` when not recognised."""
    normalised = str(value).strip().lower()
    if normalised in POSITIVE_LABELS:
        return 1
    if normalised in NEGATIVE_LABELS:
        return 0
    return None


def validate_training_csv(content: bytes, filename: str = "upload.csv", *, max_bytes: int = MAX_UPLOAD_BYTES,
                          max_rows: int = MAX_ROWS, min_rows_per_class: int = MIN_ROWS_PER_CLASS
                          ) -> TrainingUpload:
    """Check an uploaded training CSV and return the clean table, or raise ``UploadError``.

    Rules: at most ``max_bytes`` bytes and ``max_rows`` rows; columns ``text`` and ``label`` (any case, extra
    columns ignored); labels spelled as one of two classes (0/1, neg/pos, negative/positive, false/true,
    rotten/fresh, ...); rows with an empty text or label are dropped, duplicate texts keep their first row,
    texts longer than ``MAX_TEXT_CHARACTERS`` are cut; each class needs ``min_rows_per_class`` rows.
    """
    if not isinstance(content, bytes | bytearray):
        raise TypeError(f"content must be bytes, got {type(content).__name__}")
    if len(content) == 0:
        raise UploadError("The file is empty. It needs a header line `text,label` and one row per example.")
    if len(content) > max_bytes:
        raise UploadError(f"The file has {len(content) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB. "
                          f"Upload at most {max_rows:,} short texts.")
    if Path(filename).suffix.lower() not in (".csv", ".txt", ".tsv", ""):
        raise UploadError(f"Only CSV files are accepted (got a {Path(filename).suffix!r} file). Save your table "
                          "as 'CSV UTF-8'.")
    decoded, encoding, notes = decode_upload(bytes(content))
    table = _read_table(decoded)
    extra_columns = [column for column in table.columns if column not in REQUIRED_COLUMNS]
    if extra_columns:
        notes.append(f"Ignored {len(extra_columns)} extra column(s).")
    if len(table) > max_rows:
        raise UploadError(f"The file has {len(table):,} rows; the limit is {max_rows:,}. Use a sample of it.")

    texts = table["text"].astype(str).str.strip()
    raw_labels = table["label"].astype(str).str.strip()
    empty = (texts == "") | (raw_labels == "")
    if empty.any():
        notes.append(f"Dropped {int(empty.sum()):,} row(s) with an empty text or label.")
    texts, raw_labels = texts[~empty], raw_labels[~empty]
    if texts.empty:
        raise UploadError("No row has both a text and a label.")

    classes = raw_labels.map(label_to_class)
    unknown = raw_labels[classes.isna()]
    if not unknown.empty:
        examples = ", ".join(repr(value[:20]) for value in unknown.drop_duplicates().head(5))
        first_rows = ", ".join(str(int(index) + 2) for index in unknown.index[:5])  # +2: header, 1-based
        raise UploadError(f"{len(unknown):,} label(s) are not one of the two classes: {examples} (file lines "
                          f"{first_rows}). Use 0/1, neg/pos, negative/positive or false/true.")

    frame = pd.DataFrame({"text": texts.to_list(), "label": classes.astype(int).to_list()})
    long_texts = frame["text"].str.len() > MAX_TEXT_CHARACTERS
    if long_texts.any():
        frame.loc[long_texts, "text"] = frame.loc[long_texts, "text"].str.slice(0, MAX_TEXT_CHARACTERS)
        notes.append(f"Cut {int(long_texts.sum()):,} text(s) to {MAX_TEXT_CHARACTERS:,} characters.")
    duplicated = frame["text"].duplicated(keep="first")
    if duplicated.any():
        notes.append(f"Dropped {int(duplicated.sum()):,} duplicate text(s) (the first copy is kept).")
        frame = frame[~duplicated].reset_index(drop=True)

    counts = frame["label"].value_counts()
    present = sorted(int(label) for label in counts.index)
    if present != [0, 1]:
        only = "positive" if present == [1] else "negative"
        raise UploadError(f"All labels are {only}: the model needs both classes (negative and positive).")
    too_few = {name: int(counts[label]) for label, name in ((0, "negative"), (1, "positive"))
               if counts[label] < min_rows_per_class}
    if too_few:
        described = ", ".join(f"{count} {name}" for name, count in too_few.items())
        raise UploadError(f"Too few examples: {described}. Each class needs at least {min_rows_per_class} rows "
                          "so that the training, validation and test splits all contain it.")
    return TrainingUpload(frame=frame, encoding=encoding, notes=notes)


def validate_model_name(name: str, existing_names: list[str] | tuple[str, ...] = (),
                        bundled_names: list[str] | tuple[str, ...] = ()) -> str:
    """Return ``name`` when it is a safe, new model name; raise ``ModelNameError`` otherwise.

    Safe: 1-40 characters from ``a-z 0-9 _ -``, starting with a letter or digit (so no ``/``, ``..``, dots,
    spaces or hidden files), not a bundled model name, not a reserved name, and not taken by a user model
    (a trained model is never silently replaced: other sessions may be using it).
    """
    if not isinstance(name, str) or not name.strip():
        raise ModelNameError("Give the model a name, e.g. `my-reviews-1`.")
    if name != name.strip():
        raise ModelNameError("The model name must not start or end with spaces.")
    if not MODEL_NAME_PATTERN.fullmatch(name):
        raise ModelNameError("Use 1-40 lower-case letters, digits, `-` or `_`, starting with a letter or digit "
                             "(for example `my-reviews-1`); no spaces, dots or slashes.")
    if name in bundled_names or name in RESERVED_MODEL_NAMES:
        raise ModelNameError(f"`{name}` is the name of a shipped model or reserved; choose another name.")
    if name in existing_names:
        raise ModelNameError(f"A trained model named `{name}` already exists; choose another name.")
    return name


def safe_directory_for(name: str, root: Path) -> Path:
    """``root / name`` after checking that it really is a direct child of ``root`` (no path tricks)."""
    root = Path(root).resolve()
    candidate = (root / name).resolve()
    if candidate.parent != root or candidate.name != name:
        raise ModelNameError(f"`{name}` does not name a directory inside the user-model folder.")
    return candidate
