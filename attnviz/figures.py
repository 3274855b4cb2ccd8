"""Plotly figure builders. They take an ``Analysis`` (or arrays) and return a ``go.Figure``; no math here
beyond arranging numbers for display.

Plotly merges equal category labels and parses a few HTML-like tags in labels, so axes are numeric
(one row/column per token *position*) with tick text, and every user-derived string goes through
``plotly_safe``.
"""

from __future__ import annotations

import base64
import html

import numpy as np
import plotly.graph_objects as go

from attnviz.analysis import Analysis

CELL_TEXT_MAX_TOKENS = 12  # print the weights inside the cells only for short sentences
PLAIN_LIST_MAX_TOKENS = 64  # attention_heatmap stores z as plain lists up to this many tokens (fast enough)
SEQUENTIAL_COLORSCALE = "Blues"
DIVERGING_COLORSCALE = "RdBu"  # red = towards negative, blue = towards positive


def plotly_safe(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` so Plotly shows user text literally instead of parsing tags/entities."""
    return html.escape(str(text), quote=False)


def tick_angle(shown_labels: list[str]) -> int:
    """-45° when upright labels would collide; 0° for a few labels or for single characters (Chinese), which
    fit side by side and are hard to read tilted."""
    if len(shown_labels) <= 6 or (len(shown_labels) <= 40 and max(map(len, shown_labels)) <= 2):
        return 0
    return -45


def tick_labels(analysis: Analysis) -> list[str]:
    """One label per position; unknown words are marked with a trailing ``?`` and shown in the hover."""
    return [plotly_safe(token) + (" ⁽?⁾" if is_unknown else "")
            for token, is_unknown in zip(analysis.tokens, analysis.oov)]


def attention_heatmap(analysis: Analysis, *, auto_range: bool = False, zmax: float | None = None,
                      show_cell_values: bool | None = None, font_size: int = 13, height: int | None = None,
                      title: str | None = None) -> go.Figure:
    """Heatmap of ``analysis.attention`` (n, n): rows = query token i ("who looks"), columns = key token j.

    The colour bar is fixed to 0-1 unless ``auto_range`` (then 0 to the largest weight, or ``zmax`` when
    given, which the compare page uses for a shared scale). ``z`` (the weights) and ``customdata`` (the raw
    scores x_i·x_j) are plain lists up to ``PLAIN_LIST_MAX_TOKENS`` tokens; above that they are NumPy arrays
    (Plotly stores them as base64 ``bdata``, see ``decode_plotly_array``) because validating 65 536 Python
    floats costs Plotly seconds. ``hovertext[i][j]`` names both tokens with their 1-based positions.
    """
    n = analysis.n_tokens
    positions = np.arange(n)
    labels = tick_labels(analysis)
    # "token #position" per position, built with vectorised string ops: n² Python strings would be slow.
    position_labels = np.array([f"{plotly_safe(token)} #{position}" + (" (unknown word)" if unknown else "")
                                for position, (token, unknown) in enumerate(zip(analysis.tokens, analysis.oov),
                                                                            start=1)], dtype=object)
    hovertext = (position_labels[:, None] + " → " + position_labels[None, :]).astype(str)  # (n, n)
    if show_cell_values is None:
        show_cell_values = n <= CELL_TEXT_MAX_TOKENS
    upper = zmax if zmax is not None else (float(analysis.attention.max()) if auto_range else 1.0)
    as_lists = n <= PLAIN_LIST_MAX_TOKENS
    heatmap = go.Heatmap(
        z=analysis.attention.tolist() if as_lists else np.array(analysis.attention),
        x=positions.tolist(), y=positions.tolist(),
        zmin=0.0, zmax=upper, colorscale=SEQUENTIAL_COLORSCALE,
        colorbar={"title": {"text": "weight"}},
        customdata=analysis.scores.tolist() if as_lists else np.array(analysis.scores),
        hovertext=hovertext.tolist() if as_lists else hovertext,
        hovertemplate=("query → key: <b>%{hovertext}</b><br>weight A = %{z:.4f}<br>"
                       "score x·x = %{customdata:.3f}<extra></extra>"),
        xgap=1 if n <= 64 else 0, ygap=1 if n <= 64 else 0,
    )
    if show_cell_values:
        heatmap.update(texttemplate="%{z:.2f}", textfont={"size": font_size})
    figure = go.Figure(heatmap)
    _token_grid_layout(figure, labels, x_title="key token j (is looked at)", y_title="query token i (looks)",
                       font_size=font_size, height=height, title=title)
    return figure


def _token_grid_layout(figure: go.Figure, labels: list[str], *, x_title: str, y_title: str, font_size: int,
                       height: int | None, title: str | None) -> None:
    """Axes of an (n, n) token-by-token heatmap: one tick per position (labels already escaped), keys on top."""
    n = len(labels)
    positions = np.arange(n)
    # Keep tick labels readable up to 256 tokens: the rows have room for ~60 labels, the (rotated, often
    # narrower) columns for ~30.
    shown = positions[::max(1, int(np.ceil(n / 60)))].tolist()
    shown_columns = positions[::max(1, int(np.ceil(n / 30)))].tolist()
    figure.update_layout(
        title=title,
        # Explicit tick/title fonts: Streamlit's chart theme would otherwise shrink them below ``font_size``.
        xaxis={"title": {"text": x_title, "font": {"size": font_size}}, "tickmode": "array",
               "tickvals": shown_columns, "ticktext": [labels[p] for p in shown_columns], "side": "top",
               "tickangle": tick_angle([labels[p] for p in shown_columns]), "tickfont": {"size": font_size}},
        yaxis={"title": {"text": y_title, "font": {"size": font_size}}, "tickmode": "array",
               "tickvals": shown, "ticktext": [labels[p] for p in shown], "autorange": "reversed",
               "tickfont": {"size": font_size}},
        height=height or int(min(900, max(360, 150 + 32 * n))),
        font={"size": font_size}, margin={"l": 10, "r": 10, "t": 80, "b": 10},
    )


# ----- formula page ----------------------------------------------------------------------------------------

def matrix_heatmap(matrix: np.ndarray, row_labels: list[str], column_labels: list[str], *, title: str | None = None,
                   colorscale: str = SEQUENTIAL_COLORSCALE, zmid: float | None = None, zmin: float | None = None,
                   zmax: float | None = None, colorbar_title: str = "value", value_name: str = "value",
                   x_title: str = "", y_title: str = "", highlight: tuple[int, int] | None = None,
                   show_cell_values: bool | None = None, font_size: int = 13, height: int | None = None) -> go.Figure:
    """Heatmap of any (rows, columns) matrix with one row/column per position (labels are raw user text;
    they are escaped here). ``highlight`` = 0-based (row, column) gets a box. ``z`` is stored as plain lists so
    tests can read the exact values back from the spec."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape != (len(row_labels), len(column_labels)):
        raise ValueError(f"matrix has shape {matrix.shape} but there are {len(row_labels)} row labels and "
                         f"{len(column_labels)} column labels")
    rows, columns = matrix.shape
    safe_rows = [plotly_safe(label) for label in row_labels]
    safe_columns = [plotly_safe(label) for label in column_labels]
    # "row × column" per cell by broadcasting: nested per-cell Python lists cost Plotly ~0.4 s at 64 × 64
    hovertext = (np.array(safe_rows, dtype=object)[:, None] + " × "
                 + np.array(safe_columns, dtype=object)[None, :]).astype(str)
    if show_cell_values is None:
        show_cell_values = rows <= CELL_TEXT_MAX_TOKENS and columns <= CELL_TEXT_MAX_TOKENS
    heatmap = go.Heatmap(
        z=matrix.tolist(), x=list(range(columns)), y=list(range(rows)), zmid=zmid, zmin=zmin, zmax=zmax,
        colorscale=colorscale, colorbar={"title": {"text": colorbar_title}}, hovertext=hovertext.tolist(),
        hovertemplate=f"%{{hovertext}}<br>{value_name} = %{{z:.4f}}<extra></extra>",
        xgap=1 if columns <= 64 else 0, ygap=1 if rows <= 64 else 0,
    )
    if show_cell_values:
        heatmap.update(texttemplate="%{z:.2f}", textfont={"size": font_size})
    figure = go.Figure(heatmap)
    if highlight is not None:
        row, column = highlight
        figure.add_shape(type="rect", x0=column - 0.5, x1=column + 0.5, y0=row - 0.5, y1=row + 0.5,
                         line={"color": "#d62728", "width": 3})
    row_step = max(1, int(np.ceil(rows / 60)))
    column_step = max(1, int(np.ceil(columns / 60)))
    top_margin = 150 if columns > 6 else 90  # the title sits above the (rotated) tick labels on top
    figure.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "y": 0.995, "yanchor": "top",
               "font": {"size": font_size + 2}},
        xaxis={"title": {"text": x_title}, "tickmode": "array", "tickvals": list(range(0, columns, column_step)),
               "ticktext": safe_columns[::column_step], "side": "top", "tickangle": -45 if columns > 6 else 0,
               "tickfont": {"size": font_size}},  # explicit: Streamlit's chart theme would shrink them
        yaxis={"title": {"text": y_title}, "tickmode": "array", "tickvals": list(range(0, rows, row_step)),
               "ticktext": safe_rows[::row_step], "autorange": "reversed", "tickfont": {"size": font_size}},
        height=height or int(min(1000, max(320, top_margin + 80 + 30 * rows))),
        font={"size": font_size}, margin={"l": 10, "r": 10, "t": top_margin, "b": 10},
    )
    return figure


def vector_bars(values: np.ndarray, labels: list[str], *, title: str | None = None, value_title: str = "value",
                diverging: bool = False, font_size: int = 13, height: int | None = None) -> go.Figure:
    """One bar per position (labels are raw user text, escaped here); ``diverging`` colours by sign
    (blue = towards positive, red = towards negative). ``y`` is stored as a plain list."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.shape[0] != len(labels):
        raise ValueError(f"{values.shape[0]} values but {len(labels)} labels")
    count = values.shape[0]
    safe_labels = [plotly_safe(label) for label in labels]
    colors = (["#2166ac" if value >= 0 else "#b2182b" for value in values] if diverging
              else ["#4292c6"] * count)
    figure = go.Figure(go.Bar(x=list(range(count)), y=values.tolist(), marker={"color": colors},
                              customdata=safe_labels,
                              hovertemplate=f"%{{customdata}}<br>{value_title} = %{{y:.4f}}<extra></extra>"))
    step = max(1, int(np.ceil(count / 60)))
    figure.update_layout(
        title={"text": title, "font": {"size": font_size + 2}},
        yaxis={"title": {"text": value_title}, "zeroline": True, "tickfont": {"size": font_size}},
        xaxis={"tickmode": "array", "tickvals": list(range(0, count, step)), "ticktext": safe_labels[::step],
               "tickangle": -45 if count > 6 else 0, "tickfont": {"size": font_size}},
        height=height or 340, font={"size": font_size}, margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return figure


# ----- Compare page ---------------------------------------------------------------------------------------
def _pair_label(token_a: str, token_b: str) -> str:
    """"film" when both inputs have the same word at this place, else "good → bad" (escaped)."""
    if token_a == token_b:
        return plotly_safe(token_a)
    return f"{plotly_safe(token_a) or '·'} → {plotly_safe(token_b) or '·'}"


def difference_heatmap(analysis_a: Analysis, analysis_b: Analysis, difference: np.ndarray, *,
                       name_a: str = "A", name_b: str = "B", font_size: int = 13, height: int | None = None,
                       title: str | None = None) -> go.Figure:
    """Diverging heatmap of ``difference`` (n, n) = B − A (computed by ``attnviz.compare.attention_difference``),
    centred at 0 with a symmetric colour range: blue = input B attends more, red = input A attends more.
    Both inputs must have ``n`` tokens; ticks show "a → b" where the words differ. Like ``attention_heatmap``,
    arrays are plain lists up to ``PLAIN_LIST_MAX_TOKENS`` tokens and NumPy (base64 in the spec) above."""
    difference = np.asarray(difference, dtype=np.float64)
    n = analysis_a.n_tokens
    if analysis_b.n_tokens != n or difference.shape != (n, n):
        raise ValueError(f"difference heatmap needs equal sizes: {name_a} has {n} tokens, {name_b} has "
                         f"{analysis_b.n_tokens}, difference has shape {difference.shape}")
    positions = np.arange(n)
    labels = [_pair_label(token_a, token_b) for token_a, token_b in zip(analysis_a.tokens, analysis_b.tokens)]
    position_labels = np.array([f"{label} #{position}" for position, label in enumerate(labels, start=1)],
                               dtype=object)
    hovertext = (position_labels[:, None] + " → " + position_labels[None, :]).astype(str)     # (n, n)
    weights = np.stack([analysis_a.attention, analysis_b.attention], axis=-1)                 # (n, n, 2)
    limit = float(np.abs(difference).max()) if difference.size else 0.0
    limit = limit if limit > 0 else 1e-6  # identical inputs: keep a valid, symmetric range
    as_lists = n <= PLAIN_LIST_MAX_TOKENS  # validating n² Python floats costs Plotly seconds for long texts
    heatmap = go.Heatmap(
        z=difference.tolist() if as_lists else difference, x=positions.tolist(), y=positions.tolist(),
        zmin=-limit, zmax=limit, zmid=0.0, colorscale=DIVERGING_COLORSCALE,
        colorbar={"title": {"text": f"{plotly_safe(name_b)} − {plotly_safe(name_a)}"}},
        customdata=weights.tolist() if as_lists else weights,
        hovertext=hovertext.tolist() if as_lists else hovertext,
        hovertemplate=(f"query → key: <b>%{{hovertext}}</b><br>{plotly_safe(name_a)}: %{{customdata[0]:.4f}}<br>"
                       f"{plotly_safe(name_b)}: %{{customdata[1]:.4f}}<br>difference: %{{z:+.4f}}<extra></extra>"),
        xgap=1 if n <= 64 else 0, ygap=1 if n <= 64 else 0,
    )
    if n <= CELL_TEXT_MAX_TOKENS:
        heatmap.update(texttemplate="%{z:+.2f}", textfont={"size": font_size})
    figure = go.Figure(heatmap)
    _token_grid_layout(figure, labels, x_title="key token j", y_title="query token i", font_size=font_size,
                       height=height, title=title)
    return figure


def aligned_received_bars(aligned, *, name_a: str = "A", name_b: str = "B", font_size: int = 13,
                          height: int | None = None, title: str | None = None) -> go.Figure:
    """Grouped bars of the received attention W_j of two inputs on aligned word slots.

    ``aligned`` is the DataFrame of ``attnviz.compare.aligned_received`` (columns token A, token B, W_j A,
    W_j B); a slot where one input has no word gets no bar on that side. The x axis is numeric (one slot per
    position) so repeated words stay separate.
    """
    slots = list(range(len(aligned)))
    labels = [_pair_label(token_a, token_b) for token_a, token_b in zip(aligned["token A"], aligned["token B"])]
    figure = go.Figure()
    for name, token_column, value_column, color in ((name_a, "token A", "W_j A", "#7f7f7f"),
                                                    (name_b, "token B", "W_j B", "#1f77b4")):
        values = [None if value != value else float(value) for value in aligned[value_column]]  # NaN -> gap
        tokens = [plotly_safe(token) for token in aligned[token_column]]
        figure.add_trace(go.Bar(
            x=slots, y=values, name=plotly_safe(name), marker_color=color, customdata=tokens,
            hovertemplate=f"{plotly_safe(name)}: <b>%{{customdata}}</b><br>W_j = %{{y:.4f}}<extra></extra>",
        ))
    figure.update_layout(
        title=title, barmode="group",
        xaxis={"tickmode": "array", "tickvals": slots, "ticktext": labels, "tickangle": -45 if len(slots) > 8 else 0},
        yaxis={"title": {"text": "received attention W_j"}, "rangemode": "tozero"},
        height=height or 380, font={"size": font_size}, margin={"l": 10, "r": 10, "t": 60, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return figure


# ----- model card and training figures (Train and Model card pages) -------------------------------------
def confusion_matrix_figure(matrix: list[list[int]], class_names: tuple[str, str] = ("negative", "positive"), *,
                            font_size: int = 13, title: str | None = None) -> go.Figure:
    """2×2 counts heatmap: rows = true class, columns = predicted class, each cell printed."""
    counts = np.asarray(matrix, dtype=np.int64)
    if counts.shape != (2, 2):
        raise ValueError(f"matrix must be 2×2, got {counts.shape}")
    names = [plotly_safe(name) for name in class_names]
    figure = go.Figure(go.Heatmap(
        z=counts.tolist(), x=[f"predicted {name}" for name in names], y=[f"true {name}" for name in names],
        colorscale=SEQUENTIAL_COLORSCALE, texttemplate="%{z}", textfont={"size": font_size + 4},
        hovertemplate="%{y}, %{x}: %{z} texts<extra></extra>", showscale=False, xgap=2, ygap=2))
    figure.update_layout(title=title, yaxis={"autorange": "reversed"}, height=320, font={"size": font_size},
                         margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10})
    return figure


def training_curves_figure(curves: dict, *, best_epoch: int | None = None, total_epochs: int | None = None,
                           font_size: int = 13) -> go.Figure:
    """Loss (left) and accuracy (right) per epoch for training and validation, from ``metrics["curves"]``."""
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=2, subplot_titles=("loss (lower is better)", "accuracy"))
    styles = {"": ("training", "#1f77b4", "solid"), "val_": ("validation", "#d62728", "dash")}
    for column, metric in ((1, "loss"), (2, "accuracy")):
        for prefix, (label, colour, dash) in styles.items():
            values = [float(value) for value in curves.get(prefix + metric, [])]
            figure.add_trace(go.Scatter(
                x=list(range(1, len(values) + 1)), y=values, mode="lines+markers", name=label,
                legendgroup=label, showlegend=column == 1, line={"color": colour, "dash": dash},
                hovertemplate=f"{label} {metric}, epoch %{{x}}: %{{y:.4f}}<extra></extra>"), row=1, col=column)
    if best_epoch:
        for column in (1, 2):
            figure.add_vline(x=best_epoch, line={"color": "grey", "dash": "dot"}, row=1, col=column)
    x_range = [0.5, max(total_epochs or 0, len(curves.get("loss", [])), 1) + 0.5]
    figure.update_xaxes(title_text="epoch", range=x_range, dtick=1 if x_range[1] <= 20 else None)
    figure.update_layout(height=340, font={"size": font_size}, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                         legend={"orientation": "h", "y": -0.25})
    return figure


def calibration_figure(calibration: dict, *, font_size: int = 13) -> go.Figure:
    """Reliability diagram from ``model_card.Reliability`` fields: the fraction really positive against the
    mean predicted P(positive) in each bin (the diagonal is perfect calibration), with bin counts as bars."""
    from plotly.subplots import make_subplots

    figure = make_subplots(specs=[[{"secondary_y": True}]])
    centres = [(low + high) / 2 for low, high in zip(calibration["lower"], calibration["upper"])]
    widths = [high - low for low, high in zip(calibration["lower"], calibration["upper"])]
    figure.add_trace(go.Bar(x=centres, y=calibration["count"], width=widths, name="texts in bin",
                            marker={"color": "rgba(120,120,120,0.25)"},
                            hovertemplate="P in bin around %{x:.2f}: %{y} texts<extra></extra>"), secondary_y=True)
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                                line={"color": "grey", "dash": "dot"}, hoverinfo="skip"), secondary_y=False)
    shown = [(p, f) for p, f in zip(calibration["mean_probability"], calibration["fraction_positive"])
             if p is not None]
    figure.add_trace(go.Scatter(
        x=[p for p, _ in shown], y=[f for _, f in shown], mode="lines+markers", name="this model",
        line={"color": "#1f77b4"},
        hovertemplate="mean predicted P = %{x:.3f}<br>really positive = %{y:.3f}<extra></extra>"),
        secondary_y=False)
    figure.update_xaxes(title_text="predicted P(positive)", range=[0, 1])
    figure.update_yaxes(title_text="fraction really positive", range=[0, 1], secondary_y=False)
    figure.update_yaxes(title_text="texts", secondary_y=True, showgrid=False, rangemode="tozero", tickformat=",d")
    figure.update_layout(height=380, font={"size": font_size}, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         legend={"orientation": "h", "y": -0.25})
    return figure


def token_length_histogram_figure(edges: list[int], counts: list[int], *, max_tokens: int | None = None,
                                  font_size: int = 13) -> go.Figure:
    """Bars of texts per token-length bin ``[edges[k], edges[k+1])``; a line marks the model's max_tokens."""
    from itertools import pairwise

    if len(edges) != len(counts) + 1:
        raise ValueError(f"edges must have len(counts) + 1 = {len(counts) + 1} entries, got {len(edges)}")
    centres = [(low + high) / 2 for low, high in pairwise(edges)]
    widths = [high - low for low, high in pairwise(edges)]
    labels = [f"{low}-{high - 1}" for low, high in pairwise(edges)]
    figure = go.Figure(go.Bar(x=centres, y=list(counts), width=widths, customdata=labels,
                              marker={"color": "#1f77b4"},
                              hovertemplate="%{customdata} tokens: %{y} texts<extra></extra>"))
    if max_tokens is not None and edges and max_tokens <= edges[-1]:
        figure.add_vline(x=max_tokens, line={"color": "#d62728", "dash": "dash"},
                         annotation_text=f"model reads at most {max_tokens} tokens")
    figure.update_layout(xaxis={"title": {"text": "tokens per text"}}, yaxis={"title": {"text": "texts"}},
                         height=320, font={"size": font_size}, bargap=0.05,
                         margin={"l": 10, "r": 10, "t": 20, "b": 10})
    return figure


# ----- explore page ----------------------------------------------------------------------------------------

POSITIVE_RGB = (33, 102, 172)   # the blue end of RdBu: pushes towards "positive"
NEGATIVE_RGB = (178, 24, 43)    # the red end of RdBu: pushes towards "negative"
IMAGE_FORMATS = ("png", "svg", "jpeg", "webp")  # what Plotly's camera button can export


def decode_plotly_array(value) -> np.ndarray:
    """A Plotly spec array as NumPy: plain (nested) lists, or Plotly ≥ 6's ``{"dtype", "bdata", "shape"}``."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if isinstance(shape, str):
            shape = [int(size) for size in shape.split(",")]
        return array.reshape(shape) if shape else array
    return np.asarray(value)


def image_export_config(file_stem: str, image_format: str = "png", scale: int = 2) -> dict:
    """``st.plotly_chart(config=...)`` so the camera button saves ``<file_stem>.<format>`` (PNG or SVG...)."""
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
    return {"toImageButtonOptions": {"format": image_format, "filename": file_stem, "scale": scale},
            "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def received_attention_bars(analysis: Analysis, *, font_size: int = 13, height: int = 300,
                            title: str | None = None) -> go.Figure:
    """Bar chart of W_j = ``analysis.received`` (n,), one bar per *position* (numeric x axis, token tick text).

    A dashed line marks 1/n, the share every token would get if attention were spread evenly. Unknown words
    are drawn in orange. The hover shows W_j, w·x_j and the contribution W_j × w·x_j.
    """
    n = analysis.n_tokens
    positions = np.arange(n)
    labels = tick_labels(analysis)
    customdata = [[plotly_safe(token), position + 1, float(token_logit), float(contribution)]
                  for position, (token, token_logit, contribution)
                  in enumerate(zip(analysis.tokens, analysis.token_logits, analysis.contributions))]
    colours = ["#e08214" if unknown else "#4393c3" for unknown in analysis.oov]
    figure = go.Figure(go.Bar(
        x=positions.tolist(), y=analysis.received.tolist(), marker={"color": colours}, customdata=customdata,
        hovertemplate=("<b>%{customdata[0]}</b> (#%{customdata[1]})<br>attention received W = %{y:.4f}<br>"
                       "w·x = %{customdata[2]:+.3f}<br>contribution W × w·x = %{customdata[3]:+.3f}"
                       "<extra></extra>"),
    ))
    even_share = 1.0 / n
    figure.add_hline(y=even_share, line={"dash": "dash", "color": "#777", "width": 1},
                     annotation={"text": f"even share 1/{n}", "font": {"size": max(10, font_size - 2)}},
                     annotation_position="top right")
    tick_step = max(1, int(np.ceil(n / 60)))
    shown = positions[::tick_step].tolist()
    figure.update_layout(
        title=title, height=height, font={"size": font_size}, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"tickmode": "array", "tickvals": shown, "ticktext": [labels[p] for p in shown],
               "tickangle": tick_angle([labels[p] for p in shown]), "range": [-0.5, n - 0.5],
               "tickfont": {"size": font_size}},
        yaxis={"title": {"text": "attention received W", "font": {"size": font_size}}, "rangemode": "tozero",
               "tickfont": {"size": font_size}},
        showlegend=False, bargap=0.15 if n <= 64 else 0.0,
    )
    return figure


def contributions_html(analysis: Analysis, *, font_size_px: int = 18) -> str:
    """The sentence as the model read it, each token on a background coloured by its contribution to the
    logit (blue = towards positive, red = towards negative, stronger = bigger), with the number under it.

    Every token and tooltip is ``html.escape``d: the result is safe for ``st.html`` whatever the user typed.
    Unknown words get a dashed outline and a ``?``.
    """
    contributions = np.asarray(analysis.contributions, dtype=np.float64)  # (n,)
    largest = float(np.max(np.abs(contributions))) if contributions.size else 0.0
    scale = largest if largest > 0 else 1.0
    pieces = []
    for position, (token, unknown, received, token_logit, contribution) in enumerate(
            zip(analysis.tokens, analysis.oov, analysis.received, analysis.token_logits, contributions), start=1):
        strength = min(1.0, abs(float(contribution)) / scale)            # 0 (white) … 1 (full colour)
        red, green, blue = POSITIVE_RGB if contribution >= 0 else NEGATIVE_RGB
        text_colour = "#ffffff" if strength > 0.55 else "#111111"
        border = "2px dashed #e08214" if unknown else "1px solid rgba(0, 0, 0, 0.12)"
        tooltip = (f"#{position} {token}{' (unknown word)' if unknown else ''}: attention received W = "
                   f"{received:.4f}, w·x = {token_logit:+.3f}, contribution = W × w·x = {contribution:+.4f}")
        pieces.append(
            f'<span title="{html.escape(tooltip, quote=True)}" style="display:inline-block; text-align:center; '
            f'margin:3px 2px; padding:2px 7px; border-radius:7px; border:{border}; '
            f'background:rgba({red}, {green}, {blue}, {strength:.3f}); color:{text_colour};">'
            f'<span style="font-size:{font_size_px}px;">{html.escape(token, quote=True)}'
            f'{"<sup>?</sup>" if unknown else ""}</span><br>'
            f'<span style="font-size:{max(10, int(font_size_px * 0.7))}px; font-variant-numeric:tabular-nums;">'
            f'{contribution:+.2f}</span></span>')
    return '<div class="attnviz-contributions" style="line-height:1.25;">' + "".join(pieces) + "</div>"


def logit_identity_terms(analysis: Analysis) -> dict[str, float]:
    """The numbers of ``logit = bias + Σ_j contributions_j`` for display: bias, contributions_total,
    reconstructed (= bias + total) and logit (from the Keras graph); they agree to float32 rounding."""
    total = float(np.sum(analysis.contributions))
    return {"bias": float(analysis.bias), "contributions_total": total,
            "reconstructed": float(analysis.bias) + total, "logit": float(analysis.logit)}


def strongest_contributions(analysis: Analysis) -> tuple[int | None, int | None]:
    """0-based positions of the token pushing most towards positive and most towards negative
    (None when no token pushes that way). Used for the plain-language caption."""
    contributions = np.asarray(analysis.contributions)
    most_positive = int(np.argmax(contributions))
    most_negative = int(np.argmin(contributions))
    return (most_positive if contributions[most_positive] > 0 else None,
            most_negative if contributions[most_negative] < 0 else None)


def probability_bar_html(probability: float, *, height_px: int = 22) -> str:
    """A 0-1 bar for P(positive): the filled part is blue when positive (≥ 0.5), red when negative, and a black
    tick marks 0.5. Plain HTML with numbers only (no user text), for ``st.html``: cheaper than a Plotly gauge."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability}")
    red, green, blue = POSITIVE_RGB if probability >= 0.5 else NEGATIVE_RGB
    percent = 100.0 * probability
    return (
        f'<div class="attnviz-probability" role="img" aria-label="P(positive) = {probability:.3f}" '
        f'style="position:relative; height:{height_px}px; border-radius:{height_px // 2}px; overflow:hidden; '
        'background:linear-gradient(90deg, rgba(178, 24, 43, 0.12) 50%, rgba(33, 102, 172, 0.12) 50%);">'
        f'<div style="width:{percent:.2f}%; height:100%; background:rgb({red}, {green}, {blue});"></div>'
        '<div style="position:absolute; left:50%; top:0; width:2px; height:100%; background:#222;"></div></div>'
        '<div style="display:flex; justify-content:space-between; font-size:12px; color:#666;">'
        "<span>0 negative</span><span>0.5</span><span>positive 1</span></div>"
    )


def largest_weight(analysis: Analysis) -> float:
    """The largest attention weight (the top of the auto colour range)."""
    return float(np.max(analysis.attention))
