"""Plotly figure builders. They take an ``Analysis`` (or arrays) and return a ``go.Figure``; no math here
beyond arranging numbers for display.

Plotly merges equal category labels and parses a few HTML-like tags in labels, so axes are numeric
(one row/column per token *position*) with tick text, and every user-derived string goes through
``plotly_safe``.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from attnviz.analysis import Analysis

CELL_TEXT_MAX_TOKENS = 12  # print the weights inside the cells only for short sentences
SEQUENTIAL_COLORSCALE = "Blues"
DIVERGING_COLORSCALE = "RdBu"  # red = towards negative, blue = towards positive


def plotly_safe(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` so Plotly shows user text literally instead of parsing tags/entities."""
    return html.escape(str(text), quote=False)


def tick_labels(analysis: Analysis) -> list[str]:
    """One label per position; unknown words are marked with a trailing ``?`` and shown in the hover."""
    return [plotly_safe(token) + (" ⁽?⁾" if is_unknown else "")
            for token, is_unknown in zip(analysis.tokens, analysis.oov)]


def attention_heatmap(analysis: Analysis, *, auto_range: bool = False, zmax: float | None = None,
                      show_cell_values: bool | None = None, font_size: int = 13, height: int | None = None,
                      title: str | None = None) -> go.Figure:
    """Heatmap of ``analysis.attention`` (n, n): rows = query token i ("who looks"), columns = key token j.

    The colour bar is fixed to 0-1 unless ``auto_range`` (then 0 to the largest weight, or ``zmax`` when
    given, which the compare page uses for a shared scale).
    """
    n = analysis.n_tokens
    positions = np.arange(n)
    labels = tick_labels(analysis)
    safe_tokens = [plotly_safe(token) for token in analysis.tokens]
    # customdata[i, j] = (query token, query position, key token, key position, raw score)
    customdata = np.empty((n, n, 5), dtype=object)
    for i in range(n):
        for j in range(n):
            customdata[i, j] = (safe_tokens[i], i + 1, safe_tokens[j], j + 1, float(analysis.scores[i, j]))
    if show_cell_values is None:
        show_cell_values = n <= CELL_TEXT_MAX_TOKENS
    upper = zmax if zmax is not None else (float(analysis.attention.max()) if auto_range else 1.0)
    heatmap = go.Heatmap(
        z=analysis.attention.tolist(), x=positions.tolist(), y=positions.tolist(),
        zmin=0.0, zmax=upper, colorscale=SEQUENTIAL_COLORSCALE,
        colorbar={"title": {"text": "weight"}},
        customdata=customdata.tolist(),
        hovertemplate=("query <b>%{customdata[0]}</b> (#%{customdata[1]}) → key <b>%{customdata[2]}</b> "
                       "(#%{customdata[3]})<br>weight A = %{z:.4f}<br>score x·x = %{customdata[4]:.3f}"
                       "<extra></extra>"),
        xgap=1 if n <= 64 else 0, ygap=1 if n <= 64 else 0,
    )
    if show_cell_values:
        heatmap.update(texttemplate="%{z:.2f}", textfont={"size": font_size})
    figure = go.Figure(heatmap)
    tick_step = max(1, int(np.ceil(n / 60)))  # keep tick labels readable up to 256 tokens
    shown = positions[::tick_step].tolist()
    figure.update_layout(
        title=title,
        xaxis={"title": {"text": "key token j (is looked at)"}, "tickmode": "array", "tickvals": shown,
               "ticktext": [labels[p] for p in shown], "side": "top", "tickangle": -45 if n > 6 else 0},
        yaxis={"title": {"text": "query token i (looks)"}, "tickmode": "array", "tickvals": shown,
               "ticktext": [labels[p] for p in shown], "autorange": "reversed"},
        height=height or int(min(900, max(360, 150 + 32 * n))),
        font={"size": font_size}, margin={"l": 10, "r": 10, "t": 80, "b": 10},
    )
    return figure
