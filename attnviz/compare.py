"""Plain functions behind the Compare page: summaries, differences, alignment, quick edits, occlusion, batch.

No Streamlit here. Shapes use ``n`` for the number of tokens of one input. Every function that combines
two inputs names both sizes in its ``ValueError``.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from attnviz.analysis import NEGATIVE, POSITIVE, Analysis
from attnviz.errors import AttnvizError, EmptyInputError
from attnviz.text import APOSTROPHE_CHARACTERS, is_word_character
from attnviz.uploads import label_to_class

MAX_INPUTS = 4
OCCLUSION_MAX_TOKENS = 64       # one extra forward pass per token: keep it a quick, interactive batch
BATCH_MAX_BYTES = 5 * 1024 * 1024
BATCH_MAX_ROWS = 5000
BATCH_SIZE = 64
TEXT_COLUMN = "text"
LABEL_COLUMN = "label"
NEGATION_WORD = "not"
# After one of these, "not" reads naturally: "it is good" -> "it is not good".
AUXILIARY_VERBS = ("is", "was", "are", "were", "am", "be", "do", "does", "did", "has", "have", "had",
                   "will", "would", "can", "could", "should", "may", "might", "must")
# Suggested replacements for the "replace a word" quick edit (both directions are looked up).
OPPOSITE_WORDS = {
    "good": "bad", "great": "terrible", "best": "worst", "love": "hate", "loved": "hated", "like": "dislike",
    "gorgeous": "dreary", "beautiful": "ugly", "brilliant": "dreadful", "excellent": "awful", "funny": "boring",
    "witty": "dull", "wonderful": "horrible", "amazing": "awful", "fun": "tedious", "enjoyable": "tedious",
    "masterpiece": "disaster", "always": "never", "perfect": "flawed", "strong": "weak", "smart": "stupid",
}


class BatchInputError(AttnvizError, ValueError):
    """An uploaded file or pasted text cannot be used for a batch prediction (the message says why)."""


# ----- summaries ----------------------------------------------------------------------------------------
def attention_entropy(attention: np.ndarray) -> float:
    """(n, n) -> float: mean over query rows of the Shannon entropy of each row, in bits.

    0 means every token puts all its attention on one token; log2(n) means attention is spread evenly.
    """
    attention = np.asarray(attention, dtype=np.float64)
    if attention.ndim != 2 or attention.shape[0] != attention.shape[1]:
        raise ValueError(f"attention must be a square (n, n) matrix, got shape {attention.shape}")
    safe = np.where(attention > 0, attention, 1.0)  # 0 · log 0 is taken as 0
    row_entropy = -(attention * np.log2(safe)).sum(axis=1)    # (n,)
    return float(row_entropy.mean()) if row_entropy.size else 0.0


def most_attended_position(analysis: Analysis) -> int:
    """Index of the token with the largest received attention W_j (the first one on ties)."""
    return int(np.argmax(analysis.received))


def input_names(count: int) -> list[str]:
    """"A", "B", "C", ... for ``count`` inputs."""
    return [chr(ord("A") + index) for index in range(count)]


def summary_table(analyses: Sequence[Analysis], names: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per input: probability, label, logit, most-attended token (by W_j), entropy, counts."""
    names = list(names) if names is not None else input_names(len(analyses))
    if len(names) != len(analyses):
        raise ValueError(f"got {len(names)} names for {len(analyses)} analyses")
    rows = []
    for name, analysis in zip(names, analyses):
        top = most_attended_position(analysis)
        rows.append({
            "input": name,
            "P(positive)": analysis.probability,
            "label": analysis.label,
            "logit": analysis.logit,
            "most attended token": analysis.tokens[top],
            "its W_j": float(analysis.received[top]),
            "attention entropy (bits)": attention_entropy(analysis.attention),
            "max entropy log2(n)": math.log2(analysis.n_tokens),
            "tokens": analysis.n_tokens,
            "unknown words": int(analysis.oov.sum()),
        })
    return pd.DataFrame(rows).set_index("input")


def shared_color_maximum(analyses: Sequence[Analysis]) -> float:
    """The largest attention weight over all inputs: the top of one colour scale shared by every heatmap."""
    if not analyses:
        raise ValueError("need at least one analysis for a shared colour scale")
    return float(max(analysis.attention.max() for analysis in analyses))


def attention_difference(attention_a: np.ndarray, attention_b: np.ndarray) -> np.ndarray:
    """(n, n), (n, n) -> (n, n): B − A, cell by cell (position i, j of one input against the other)."""
    attention_a = np.asarray(attention_a, dtype=np.float64)
    attention_b = np.asarray(attention_b, dtype=np.float64)
    if attention_a.shape != attention_b.shape:
        raise ValueError(f"the difference needs equal shapes: input A has {attention_a.shape}, "
                         f"input B has {attention_b.shape}")
    return attention_b - attention_a


# ----- word alignment -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlignedSlot:
    """One slot of an alignment: a position in A, in B, or both (``None`` = gap on that side)."""

    position_a: int | None
    position_b: int | None
    operation: str  # "equal", "replace", "delete" (only in A), "insert" (only in B)


def align_tokens(tokens_a: Sequence[str], tokens_b: Sequence[str]) -> list[AlignedSlot]:
    """Align two token lists with ``difflib.SequenceMatcher`` so equal words share a slot and a replaced word
    ("good" -> "bad") lines up with its replacement. Every position of each list appears exactly once, in order.
    """
    matcher = difflib.SequenceMatcher(a=list(tokens_a), b=list(tokens_b), autojunk=False)
    slots: list[AlignedSlot] = []
    for operation, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if operation in ("equal", "replace"):
            paired = min(a_end - a_start, b_end - b_start)
            slots.extend(AlignedSlot(a_start + k, b_start + k, operation) for k in range(paired))
            # A replaced span of unequal length: the extra words stand alone.
            slots.extend(AlignedSlot(a, None, "delete") for a in range(a_start + paired, a_end))
            slots.extend(AlignedSlot(None, b, "insert") for b in range(b_start + paired, b_end))
        elif operation == "delete":
            slots.extend(AlignedSlot(a, None, operation) for a in range(a_start, a_end))
        else:  # insert
            slots.extend(AlignedSlot(None, b, operation) for b in range(b_start, b_end))
    return slots


def aligned_received(analysis_a: Analysis, analysis_b: Analysis) -> pd.DataFrame:
    """The received attention W_j of two inputs on shared slots (NaN where one input has no word there).

    Columns: token A, token B, W_j A, W_j B, operation; one row per slot, in reading order.
    """
    rows = []
    for slot in align_tokens(analysis_a.tokens, analysis_b.tokens):
        rows.append({
            "token A": analysis_a.tokens[slot.position_a] if slot.position_a is not None else "",
            "token B": analysis_b.tokens[slot.position_b] if slot.position_b is not None else "",
            "W_j A": float(analysis_a.received[slot.position_a]) if slot.position_a is not None else np.nan,
            "W_j B": float(analysis_b.received[slot.position_b]) if slot.position_b is not None else np.nan,
            "operation": slot.operation,
        })
    return pd.DataFrame(rows, columns=["token A", "token B", "W_j A", "W_j B", "operation"])


# ----- quick edits --------------------------------------------------------------------------------------
def _is_han(character: str) -> bool:
    return "CJK UNIFIED IDEOGRAPH" in unicodedata.name(character, "") or "CJK COMPATIBILITY IDEOGRAPH" in \
        unicodedata.name(character, "")


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the words of ``text``, one per token the model reads.

    Editing these spans keeps the rest of the text (case, punctuation) as typed. A Chinese character is a word
    of its own, as in the tokenizer.
    """
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for index, character in enumerate(text):
        if _is_han(character):
            if start is not None:
                spans.append((start, index))
                start = None
            spans.append((index, index + 1))
        elif is_word_character(character):
            if start is None:
                start = index
        elif start is not None:
            spans.append((start, index))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    # A run made only of apostrophes is deleted by the standardisation: it is not a word.
    return [(begin, end) for begin, end in spans if text[begin:end].strip(APOSTROPHE_CHARACTERS)]


def span_word(text: str, span: tuple[int, int]) -> str:
    """The token the model would read for one span (lower case, apostrophes removed)."""
    word = text[span[0]:span[1]].lower()
    return "".join(character for character in word if character not in APOSTROPHE_CHARACTERS)


def _check_position(position: int, count: int) -> None:
    if not 0 <= position < count:
        raise ValueError(f"word position {position} is out of range for a text of {count} words")


def _join_without_double_space(before: str, after: str) -> str:
    # "a good film" minus "good" -> "a film", not "a  film".
    if before[-1:].isspace() and (after[:1].isspace() or not after):
        before = before.rstrip()
    return before + after


def remove_word(text: str, position: int) -> str:
    """``text`` without its word number ``position`` (0-based, as ``word_spans``); the rest stays as typed."""
    spans = word_spans(text)
    _check_position(position, len(spans))
    start, end = spans[position]
    return _join_without_double_space(text[:start], text[end:]).strip()


def replace_word(text: str, position: int, replacement: str) -> str:
    """``text`` with word number ``position`` replaced by ``replacement`` (stripped, must not be empty)."""
    replacement = replacement.strip()
    if not replacement:
        raise ValueError("the replacement word is empty")
    spans = word_spans(text)
    _check_position(position, len(spans))
    start, end = spans[position]
    return text[:start] + replacement + text[end:]


def suggest_replacement(word: str) -> str:
    """An opposite for a handful of common sentiment words ("good" -> "bad" and back), else ``""``."""
    word = word.lower()
    if word in OPPOSITE_WORDS:
        return OPPOSITE_WORDS[word]
    reverse = {opposite: original for original, opposite in OPPOSITE_WORDS.items()}
    return reverse.get(word, "")


def opposite_variant(text: str) -> str:
    """A second input for a fresh comparison: the first word with a known opposite replaced ("good" -> "bad"),
    which keeps the token count (so the difference heatmap applies); otherwise the negation of ``text``."""
    spans = word_spans(text)
    for position, span in enumerate(spans):
        replacement = suggest_replacement(span_word(text, span))
        if replacement:
            return replace_word(text, position, replacement)
    return negate(text)


def negate(text: str) -> str:
    """A simple negation toggle: remove the first "not" if there is one; otherwise put "not" after the first
    auxiliary verb ("is", "was", "do", ...), or before the first word when there is none."""
    spans = word_spans(text)
    if not spans:
        return text
    words = [span_word(text, span) for span in spans]
    if NEGATION_WORD in words:
        return remove_word(text, words.index(NEGATION_WORD))
    for (_start, end), word in zip(spans, words):
        if word in AUXILIARY_VERBS:
            return f"{text[:end]} {NEGATION_WORD}{text[end:]}"
    start = spans[0][0]
    first = text[start:spans[0][1]]
    # "Great film" -> "Not great film": keep the capital letter at the start of the sentence.
    if first[:1].isupper() and (len(first) == 1 or first[1:].islower()) and first != "I":
        return f"{text[:start]}Not {first[0].lower()}{text[start + 1:]}"
    return f"{text[:start]}{NEGATION_WORD} {text[start:]}"


# ----- does attention explain the prediction? -----------------------------------------------------------
def spearman_correlation(values_x: Sequence[float], values_y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's correlation of the ranks (ties get their average rank).

    NaN when there are fewer than 3 pairs or one side is constant (no ranking to compare).
    """
    series_x = pd.Series(np.asarray(values_x, dtype=np.float64))
    series_y = pd.Series(np.asarray(values_y, dtype=np.float64))
    if len(series_x) != len(series_y):
        raise ValueError(f"x has {len(series_x)} values but y has {len(series_y)}")
    usable = series_x.notna() & series_y.notna()
    ranks_x = series_x[usable].rank(method="average").to_numpy()
    ranks_y = series_y[usable].rank(method="average").to_numpy()
    if len(ranks_x) < 3 or np.ptp(ranks_x) == 0 or np.ptp(ranks_y) == 0:
        return float("nan")
    return float(np.corrcoef(ranks_x, ranks_y)[0, 1])


def occluded_texts(text: str, n_tokens: int) -> list[str]:
    """The texts with one word removed, for each of the first ``n_tokens`` words, in order."""
    return [remove_word(text, position) for position in range(n_tokens)]


def _spans_match_tokens(text: str, tokens: Sequence[str]) -> bool:
    spans = word_spans(text)
    return len(spans) >= len(tokens) and all(span_word(text, span) == token for span, token in zip(spans, tokens))


def occlusion_table(model, analysis: Analysis, max_tokens: int = OCCLUSION_MAX_TOKENS) -> pd.DataFrame:
    """For each token j: received attention W_j, exact logit contribution, and the occlusion effect
    P(positive | text) − P(positive | text without token j), from one batched ``model.analyze_many`` call.

    A positive effect means the token pushed the prediction towards positive. Removing the only word leaves
    nothing to read, so its effect is NaN. Raises ``ValueError`` for texts longer than ``max_tokens`` tokens.
    With the language-routing ``AutoModel``, the edited texts go to the model that read the original text.
    """
    if hasattr(model, "model_for"):
        model = model.model_for(analysis.text)  # removing a word must not switch the model (e.g. en -> zh)
    if analysis.n_input_tokens > max_tokens:
        raise ValueError(f"occlusion is computed for texts of up to {max_tokens} words; this one has "
                         f"{analysis.n_input_tokens}")
    text = analysis.text
    if not _spans_match_tokens(text, analysis.tokens):
        # Rare characters where our word finder and the tokenizer disagree: occlude the tokens themselves.
        text = " ".join(analysis.tokens)
    edited = occluded_texts(text, analysis.n_tokens)
    readable = [position for position, edited_text in enumerate(edited) if span_count(edited_text) > 0]
    probability_without = np.full(analysis.n_tokens, np.nan)                      # (n,)
    if readable:
        results = model.analyze_many([edited[position] for position in readable], cache=False)
        probability_without[readable] = [result.probability for result in results]
    return pd.DataFrame({
        "position": np.arange(1, analysis.n_tokens + 1),
        "token": analysis.tokens,
        "received W_j": np.asarray(analysis.received, dtype=np.float64),
        "contribution": np.asarray(analysis.contributions, dtype=np.float64),
        "P without it": probability_without,
        "occlusion effect": analysis.probability - probability_without,
        "text without it": edited,
    })


def span_count(text: str) -> int:
    """How many words ``text`` has (0 for empty or punctuation-only text)."""
    return len(word_spans(text))


def explanation_correlations(table: pd.DataFrame) -> dict[str, float]:
    """Rank correlations of an ``occlusion_table``.

    * ``received_vs_occlusion_size``: W_j against |occlusion effect|; attention has no sign, so it can at
      best predict how much a word matters, not in which direction.
    * ``contribution_vs_occlusion``: the signed contribution against the signed occlusion effect.
    """
    return {
        "received_vs_occlusion_size": spearman_correlation(table["received W_j"], table["occlusion effect"].abs()),
        "contribution_vs_occlusion": spearman_correlation(table["contribution"], table["occlusion effect"]),
    }


# ----- batch --------------------------------------------------------------------------------------------
def parse_label(value: str) -> int | None:
    """"1"/"pos"/"positive" -> 1, "0"/"neg"/"negative" -> 0 (the same spellings the Train page accepts,
    ``attnviz.uploads.label_to_class``), blank -> None; raises ``ValueError`` otherwise."""
    if not str(value).strip():
        return None
    label = label_to_class(value)
    if label is None:
        raise ValueError(f"unknown label {value!r}")
    return label


def _check_size(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise BatchInputError(f"The file is {len(data) / 1024 / 1024:.1f} MB; the limit is "
                              f"{max_bytes / 1024 / 1024:.0f} MB. Split it into smaller files.")


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BatchInputError("This does not look like a text file (it contains NUL bytes). Upload a CSV file.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise BatchInputError(f"The file says it is UTF-16 but cannot be read as such: {error.reason}.") from error
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BatchInputError(
            f"The file is not UTF-8 text (undecodable byte at position {error.start}). Save it as "
            "\"CSV UTF-8\" and upload it again.") from error


def _check_rows(count: int, max_rows: int) -> None:
    if count == 0:
        raise BatchInputError("There are no rows to predict: the file or text is empty.")
    if count > max_rows:
        raise BatchInputError(f"There are {count:,} rows; the limit is {max_rows:,}. Split the data into "
                              "smaller files.")


def _parse_labels(raw_labels: pd.Series) -> pd.Series:
    labels: list[int | None] = []
    for row_number, value in enumerate(raw_labels, start=1):
        try:
            labels.append(parse_label(value))
        except ValueError:
            shown = str(value) if len(str(value)) <= 30 else str(value)[:30] + "…"
            raise BatchInputError(
                f"Row {row_number} has the label {shown!r}. Labels must be 1/0, pos/neg or positive/negative "
                "(or empty).") from None
    return pd.Series(labels, dtype="Int64", name=LABEL_COLUMN)


def read_batch_csv(data: bytes, *, max_bytes: int = BATCH_MAX_BYTES, max_rows: int = BATCH_MAX_ROWS) -> pd.DataFrame:
    """Parse an uploaded CSV (UTF-8, comma/semicolon/tab separated, with a header row).

    Returns a DataFrame with a ``text`` column (str) and, when the file has one, a ``label`` column
    (nullable Int64: 1 positive, 0 negative, <NA> blank). Column names are matched case-insensitively.
    Raises ``BatchInputError`` with a message for the user for every problem.
    """
    _check_size(data, max_bytes)
    decoded = _decode(data)
    if not decoded.strip():
        raise BatchInputError("The file is empty.")
    try:
        dialect = csv.Sniffer().sniff(decoded[:8192], delimiters=",;\t")
        separator = dialect.delimiter
    except csv.Error:
        separator = ","  # one column, or the sniffer could not tell: commas are the CSV default
    try:
        frame = pd.read_csv(io.StringIO(decoded), sep=separator, dtype=str, keep_default_na=False,
                            skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise BatchInputError(f"The file could not be read as CSV: {first_line}") from error
    columns = {str(column).strip().lower(): column for column in frame.columns}
    if TEXT_COLUMN not in columns:
        found = ", ".join(repr(str(column)) for column in list(frame.columns)[:10]) or "none"
        raise BatchInputError(f"The file needs a column named 'text' (and optionally 'label'); found: {found}.")
    _check_rows(len(frame), max_rows)
    result = pd.DataFrame({TEXT_COLUMN: frame[columns[TEXT_COLUMN]].astype(str).to_numpy()})
    if LABEL_COLUMN in columns:
        result[LABEL_COLUMN] = _parse_labels(frame[columns[LABEL_COLUMN]]).to_numpy()
    return result


def read_pasted_lines(text: str, *, max_bytes: int = BATCH_MAX_BYTES, max_rows: int = BATCH_MAX_ROWS) -> pd.DataFrame:
    """One text per non-blank line -> a DataFrame with a ``text`` column (no labels)."""
    _check_size(text.encode("utf-8", errors="replace"), max_bytes)
    lines = [line.strip() for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    _check_rows(len(lines), max_rows)
    return pd.DataFrame({TEXT_COLUMN: lines})


def predict_batch(model, texts: Sequence[str], labels: Sequence[int | None] | None = None, *,
                  batch_size: int = BATCH_SIZE,
                  progress_callback: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Predict many texts with batched ``model.analyze_many`` calls.

    Returns one row per text: row, text, prediction, P(positive), logit, top attended token (by W_j), its W_j,
    tokens, and — when ``labels`` are given — label and correct. Texts without readable words get no
    prediction and a note. ``progress_callback(done, total)`` is called after each batch.
    """
    texts = [str(text) for text in texts]
    if labels is not None and len(labels) != len(texts):
        raise ValueError(f"got {len(labels)} labels for {len(texts)} texts")
    total = len(texts)
    columns: dict[str, list] = {name: [None] * total for name in
                                ("prediction", "P(positive)", "logit", "top attended token", "its W_j", "tokens",
                                 "note")}
    for start in range(0, total, batch_size):
        chunk = list(range(start, min(start + batch_size, total)))
        try:
            readable = chunk
            analyses = model.analyze_many([texts[index] for index in chunk], batch_size=batch_size, cache=False)
        except EmptyInputError:
            # One unreadable row must not stop the batch: find the unreadable rows and run the others.
            readable = [index for index in chunk if model.tokenize(texts[index])[0]]
            analyses = model.analyze_many([texts[index] for index in readable], batch_size=batch_size, cache=False) \
                if readable else []
            for index in sorted(set(chunk) - set(readable)):
                columns["note"][index] = "no readable words"
        # Keep only the few numbers we need; the Analyses (with their n×n matrices) are dropped at once.
        for index, analysis in zip(readable, analyses):
            top = most_attended_position(analysis)
            columns["prediction"][index] = analysis.label
            columns["P(positive)"][index] = analysis.probability
            columns["logit"][index] = analysis.logit
            columns["top attended token"][index] = analysis.tokens[top]
            columns["its W_j"][index] = float(analysis.received[top])
            columns["tokens"][index] = analysis.n_input_tokens
            if analysis.truncated:
                columns["note"][index] = f"read the first {analysis.n_tokens} of {analysis.n_input_tokens} words"
        if progress_callback is not None:
            progress_callback(chunk[-1] + 1, total)
    result = pd.DataFrame({"row": np.arange(1, total + 1), "text": texts})
    result["prediction"] = pd.Series(columns["prediction"], dtype="string")
    result["P(positive)"] = pd.Series(columns["P(positive)"], dtype="Float64")
    result["logit"] = pd.Series(columns["logit"], dtype="Float64")
    result["top attended token"] = pd.Series(columns["top attended token"], dtype="string")
    result["its W_j"] = pd.Series(columns["its W_j"], dtype="Float64")
    result["tokens"] = pd.Series(columns["tokens"], dtype="Int64")
    if labels is not None:
        label_series = pd.Series(list(labels), dtype="Int64")
        result["label"] = label_series.map({1: POSITIVE, 0: NEGATIVE}).astype("string")
        has_both = label_series.notna() & result["prediction"].notna()
        correct = (result["label"] == result["prediction"]).astype("boolean")
        result["correct"] = correct.where(has_both, pd.NA)
    result["note"] = pd.Series(columns["note"], dtype="string").fillna("")
    return result


def batch_accuracy(results: pd.DataFrame) -> tuple[float, int] | None:
    """(accuracy, number of rows scored) over rows with both a label and a prediction; None without labels."""
    if "correct" not in results.columns:
        return None
    scored = results["correct"].dropna()
    if scored.empty:
        return None
    return float(scored.astype(bool).mean()), len(scored)
