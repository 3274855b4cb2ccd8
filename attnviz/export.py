"""Downloads: the attention matrix and per-token numbers as CSV, the whole analysis as JSON.

Numbers are written with Python's shortest round-trip float format, so reading a file back gives exactly
the values in the ``Analysis``.
"""

from __future__ import annotations

import csv
import io
import json
import re

import attnviz
from attnviz.analysis import Analysis

FILE_STEM_MAX_CHARACTERS = 40


def file_stem(analysis: Analysis, prefix: str = "attnviz") -> str:
    """A safe file-name stem from the sentence: ASCII letters/digits and dashes only, e.g.
    ``attnviz-not-bad-at-all``. Falls back to ``attnviz-sentence`` for text without such characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", " ".join(analysis.tokens).lower()).strip("-")
    slug = slug[:FILE_STEM_MAX_CHARACTERS].rstrip("-") or "sentence"
    return f"{prefix}-{slug}"


def attention_csv(analysis: Analysis) -> str:
    """The (n, n) attention matrix as CSV: a header row of key labels, then one row per query token.

    Labels are unique per position ("film #2", "film #9"), so repeated words stay separate. Cell (i, j)
    is ``analysis.attention[i, j]``; every row sums to 1.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    labels = analysis.token_labels
    writer.writerow(["query \\ key", *labels])
    for label, row in zip(labels, analysis.attention):
        writer.writerow([label, *(repr(float(value)) for value in row)])
    return buffer.getvalue()


def tokens_csv(analysis: Analysis) -> str:
    """One row per token: position (1-based), token, unknown, received W_j, w·x_j and contribution."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["position", "token", "unknown", "received_attention", "token_logit", "contribution"])
    for position, (token, unknown, received, token_logit, contribution) in enumerate(
            zip(analysis.tokens, analysis.oov, analysis.received, analysis.token_logits,
                analysis.contributions), start=1):
        writer.writerow([position, token, bool(unknown), repr(float(received)), repr(float(token_logit)),
                         repr(float(contribution))])
    return buffer.getvalue()


def analysis_json(analysis: Analysis) -> str:
    """Everything in the analysis (``Analysis.to_dict``) plus the attnviz version, as indented JSON."""
    document = {"attnviz_version": attnviz.__version__, **analysis.to_dict()}
    return json.dumps(document, ensure_ascii=False, indent=1)
