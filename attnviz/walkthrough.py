"""Everything the formula page shows beyond ``formula``: worked examples with the real numbers, the what-if
(scale) results, the Keras-vs-NumPy proof, the display tables and the Markdown/LaTeX export.

Plain NumPy/pandas, no Streamlit, so every number the page prints is unit-tested here. Shapes use ``n`` tokens
and ``d`` embedding dimensions; positions in the user interface and in the URL are 1-based (token "#1"), in
the arrays 0-based.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from attnviz import formula
from attnviz.analysis import Analysis

PROOF_THRESHOLD = 1e-5          # |Keras − NumPy| above this fails the proof panel (float32 rounding is ~1e-7)
TABLE_MAX_TOKENS = 12           # tables show the first k tokens (rows) ...
TABLE_MAX_DIMENSIONS = 8        # ... and the first k embedding dimensions (columns)
HEATMAP_MAX_TOKENS = 64         # heatmaps show at most this many tokens so cells stay visible and pages fast
HEATMAP_MAX_DIMENSIONS = 64
LEADING_TERMS = 3               # a worked sum shows this many terms, "…", and the last term
SCALE_MINIMUM, SCALE_MAXIMUM = 0.0, 10.0
ALL_STEPS = "all"


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    latex: str          # the formula, for st.latex and the export
    explanation: str    # one plain paragraph


STEPS: tuple[Step, ...] = (
    Step(1, "Tokens and ids",
         r"\text{text} \;\xrightarrow{\text{standardise, split}}\; (t_1, \dots, t_n)"
         r" \;\xrightarrow{\text{vocabulary}}\; (\mathrm{id}_1, \dots, \mathrm{id}_n)",
         "The model never sees your characters. The text is lower-cased, apostrophes inside words are "
         "dropped (\"don't\" becomes \"dont\"), every other punctuation mark, symbol or emoji becomes a space, "
         "and the rest is split on spaces. Each token is looked up in the vocabulary learned during training; a "
         "word the model never saw gets id 1, the shared \"unknown word\" token, and all unknown words look "
         "identical to the model."),
    Step(2, "Embeddings",
         r"x_i = E[\mathrm{id}_i] \in \mathbb{R}^{d}, \qquad X = \begin{pmatrix} x_1 \\ \vdots \\ x_n "
         r"\end{pmatrix} \in \mathbb{R}^{n \times d}",
         "Each id selects one row of the trained embedding table E: a list of d numbers that training adjusted "
         "so that the classifier works. The same word always gets the same vector, wherever it stands, because "
         "this model has no position information. These vectors are at the same time the queries, the keys and "
         "the values of the attention layer."),
    Step(3, "Scores: every token against every token",
         r"S_{ij} = x_i \cdot x_j = \sum_{k=1}^{d} x_{ik}\, x_{jk}, \qquad S = X X^{\top}",
         "The attention layer compares every token (query i, a row) with every token (key j, a column) by the "
         "dot product of their vectors: multiply the two vectors dimension by dimension and add everything up. "
         "A large score means the two vectors point the same way. Keras' Attention() uses this raw dot product; "
         "it does not divide by √d as the Transformer paper does. S is symmetric because queries and keys are "
         "the same vectors."),
    Step(4, "Exponentials and row sums",
         r"m_i = \max_k S_{ik}, \qquad e_{ij} = \exp(S_{ij} - m_i), \qquad Z_i = \sum_{k=1}^{n} e_{ik}",
         "The softmax turns each row of scores into positive weights. First every score is exponentiated. "
         "Subtracting the row maximum m_i before exp() changes nothing in the final fraction (the factor "
         "exp(−m_i) cancels) but keeps the numbers from overflowing, which is what every real implementation "
         "does. Z_i is the row sum that step 5 divides by; the largest score of each row becomes exactly 1."),
    Step(5, "Softmax: the attention weights",
         r"A_{ij} = \frac{\exp(S_{ij})}{\sum_{k=1}^{n} \exp(S_{ik})} = \frac{e_{ij}}{Z_i},"
         r" \qquad \sum_{j=1}^{n} A_{ij} = 1",
         "Dividing each exponential by its row sum gives the attention weights: row i says how query token i "
         "spreads one unit of attention over all tokens of the sentence, itself included. Every row sums to 1. "
         "This matrix comes straight out of the trained Keras layer."),
    Step(6, "The article's W: the attention each token receives",
         r"W_j = \frac{1}{n} \sum_{i=1}^{n} A_{ij}, \qquad \bar{o} = \frac{1}{n}\sum_{i=1}^{n} o_i"
         r" = \sum_{j=1}^{n} W_j\, x_j",
         "The seed article writes W_j = (1/n) Σ_i A_ij and calls W a weight matrix. It is not a matrix: it has "
         "one number per token, so it is a vector of length n, the average of each column of A, i.e. the "
         "average attention token j receives from all queries. Its entries sum to 1. It matters because "
         "the model averages the attention outputs (GlobalAveragePooling1D), and an average of weighted sums "
         "is one weighted sum: the pooled vector is exactly Σ_j W_j x_j. So W is precisely how much each "
         "token's embedding counts in what the classifier sees."),
    Step(7, "Output, pooling and the prediction",
         r"o_i = \sum_{j=1}^{n} A_{ij}\, x_j, \quad \bar{o} = \frac{1}{n}\sum_i o_i, \quad"
         r" z = w \cdot \bar{o} + b = b + \sum_{j=1}^{n} W_j\,(w \cdot x_j), \quad p = \sigma(z) = "
         r"\frac{1}{1 + e^{-z}}",
         "Each output o_i is the attention-weighted mix of the token vectors for query i. The model averages "
         "them into one vector ō, and the final Dense layer takes one dot product with its weight vector w and "
         "adds the bias b: that is the logit z. Because everything after the softmax is linear, z splits "
         "exactly into one contribution per token, W_j times w·x_j (how positive token j's vector is, times "
         "how much it counts), plus the bias. The sigmoid σ turns z into the probability that the text is "
         "positive."),
    Step(8, "Proof: Keras versus NumPy",
         r"\max \left| \text{Keras} - \text{NumPy} \right| \le 10^{-5}",
         "Every number on this page is real. The attention weights, outputs, logit and probability come from "
         "the trained Keras model; the table below recomputes them from the embeddings alone with the "
         "formulas above, in plain NumPy (64-bit floats), and shows the largest absolute difference for this "
         "sentence. Differences around 1e-7 are the rounding of the model's 32-bit floats."),
)


# ----- URL and widget values -------------------------------------------------------------------------------

def parse_step(raw: str | None, default: int = 1) -> int | str:
    """A step number 1..8 or ``"all"`` from a URL value; anything else gives ``default``."""
    if raw is None:
        return default
    value = str(raw).strip().lower()
    if value == ALL_STEPS:
        return ALL_STEPS
    try:
        number = int(value)
    except ValueError:
        return default
    return number if 1 <= number <= len(STEPS) else default


def parse_position(raw: str | None, n_tokens: int, default: int = 1) -> int:
    """A 1-based token position from a URL value, clamped to 1..n_tokens; unreadable values give ``default``."""
    if n_tokens < 1:
        raise ValueError(f"n_tokens must be at least 1, got {n_tokens}")
    try:
        position = int(str(raw).strip())
    except (TypeError, ValueError):
        position = default
    return min(max(position, 1), n_tokens)


def parse_scale(raw: str | None, default: float = 1.0) -> float:
    """A what-if scale from a URL value, clamped to [SCALE_MINIMUM, SCALE_MAXIMUM]; bad values give ``default``."""
    try:
        value = float(str(raw).strip())
    except (TypeError, ValueError):
        return default
    if not math.isfinite(value):
        return default
    return min(max(value, SCALE_MINIMUM), SCALE_MAXIMUM)


def transformer_scale(embedding_dim: int) -> float:
    """1/√d, the scaling of "Attention is all you need" (Keras' default ``Attention()`` does not use it)."""
    if embedding_dim < 1:
        raise ValueError(f"embedding_dim must be at least 1, got {embedding_dim}")
    return 1.0 / math.sqrt(embedding_dim)


# ----- number formatting -----------------------------------------------------------------------------------

def format_number(value: float, digits: int = 4) -> str:
    """Fixed-point with ``digits`` decimals, switching to scientific notation for very small/large values."""
    value = float(value)
    if value != 0 and (abs(value) < 10 ** (-digits) or abs(value) >= 1e6):
        return f"{value:.{max(digits - 1, 1)}e}"
    return f"{value:.{digits}f}"


def latex_number(value: float, digits: int = 4) -> str:
    """A number for LaTeX: negatives in parentheses (so products read clearly), 1e-7 as 1 × 10^{-7}."""
    text = format_number(value, digits)
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return f"({text})" if float(value) < 0 else text


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
                  "^": r"\^{}", "_": r"\_", "%": r"\%", "~": r"\~{}"}


def latex_text(text: str) -> str:
    r"""User text made literal inside LaTeX ``\text{…}`` (escapes the characters LaTeX/KaTeX interpret)."""
    return "".join(_LATEX_SPECIAL.get(character, character) for character in str(text))


def markdown_cell(text: str) -> str:
    """User text made literal inside a Markdown table cell."""
    escaped = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    for character in "*_`[]":
        escaped = escaped.replace(character, "\\" + character)
    return escaped.replace("\n", " ")


# ----- worked examples -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkedDotProduct:
    """left · right written term by term (float64)."""

    left: np.ndarray        # (d,)
    right: np.ndarray       # (d,)
    products: np.ndarray    # (d,) left_k * right_k
    total: float            # Σ_k products

    def latex(self, left_name: str = "x_i", right_name: str = "x_j", result_name: str | None = None,
              leading_terms: int = LEADING_TERMS, digits: int = 4, multiline: bool = False) -> str:
        """``name = a1·b1 + a2·b2 + … + ad·bd = total`` with the first terms, "…" and the last term.

        ``multiline`` puts two terms per line in an ``aligned`` block so it fits a narrow page."""
        d = self.products.shape[0]
        terms = [rf"{latex_number(self.left[k], digits)} \cdot {latex_number(self.right[k], digits)}"
                 for k in range(d)]
        if d > leading_terms + 1:
            shown = [*terms[:leading_terms], r"\dots", terms[-1]]
        else:
            shown = terms
        prefix = f"{result_name} = " if result_name else ""
        total = format_number(self.total, digits)
        if not multiline:
            return rf"{prefix}{left_name} \cdot {right_name} = " + " + ".join(shown) + rf" = {total}"
        lines = [" + ".join(shown[start:start + 2]) for start in range(0, len(shown), 2)]
        body = r" \\ &\quad + ".join(lines)
        return (rf"\begin{{aligned}} {prefix}{left_name} \cdot {right_name} &= {body} \\ &= {total}"
                r" \end{aligned}")

    def table(self, left_name: str = "left", right_name: str = "right") -> pd.DataFrame:
        """One row per dimension k (1-based): the two values, their product and the running sum.
        The column names must differ (a cell on the diagonal multiplies a vector with itself)."""
        if left_name == right_name:
            raise ValueError(f"the two columns need different names, got {left_name!r} twice")
        d = self.products.shape[0]
        return pd.DataFrame({"dimension k": np.arange(1, d + 1), left_name: self.left, right_name: self.right,
                             "product": self.products, "running sum": np.cumsum(self.products)})


def worked_dot_product(left: np.ndarray, right: np.ndarray) -> WorkedDotProduct:
    """(d,), (d,) -> the term-by-term dot product. Raises ValueError naming both lengths when they differ."""
    left = np.asarray(left, dtype=np.float64).reshape(-1)
    right = np.asarray(right, dtype=np.float64).reshape(-1)
    if left.shape != right.shape:
        raise ValueError(f"the vectors have different lengths: {left.shape[0]} and {right.shape[0]}")
    products = left * right
    return WorkedDotProduct(left=left, right=right, products=products, total=float(products.sum()))


def worked_score(embeddings: np.ndarray, i: int, j: int) -> WorkedDotProduct:
    """S_ij = x_i · x_j written out, for 0-based positions i, j of embeddings (n, d)."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    n = embeddings.shape[0]
    if not (0 <= i < n and 0 <= j < n):
        raise ValueError(f"cell ({i}, {j}) is outside the {n}×{n} score matrix")
    return worked_dot_product(embeddings[i], embeddings[j])


@dataclass(frozen=True)
class WorkedSoftmax:
    """Softmax of row i of a score matrix, focused on cell (i, j) (float64, 0-based i and j)."""

    i: int
    j: int
    row_scores: np.ndarray     # (n,) S_ik (after any what-if scale)
    row_maximum: float         # m_i
    exponentials: np.ndarray   # (n,) e_ik = exp(S_ik − m_i)
    row_sum: float             # Z_i
    weights: np.ndarray        # (n,) A_ik = e_ik / Z_i

    @property
    def weight(self) -> float:
        return float(self.weights[self.j])

    def latex(self, digits: int = 4, multiline: bool = False) -> str:
        """``A_ij = exp(S_ij − m_i) / Σ_k exp(S_ik − m_i) = … = weight``; ``multiline`` uses an aligned block."""
        i, j = self.i + 1, self.j + 1
        exponentials = [latex_number(value, digits) for value in self.exponentials]
        if len(exponentials) > LEADING_TERMS + 1:
            exponentials = [*exponentials[:LEADING_TERMS], r"\dots", exponentials[-1]]
        parts = [rf"A_{{{i},{j}}}",
                 rf"\frac{{\exp(S_{{{i},{j}}} - m_{{{i}}})}}{{\sum_k \exp(S_{{{i},k}} - m_{{{i}}})}}",
                 rf"\frac{{\exp({latex_number(self.row_scores[self.j], digits)} - "
                 rf"{latex_number(self.row_maximum, digits)})}}{{{' + '.join(exponentials)}}}",
                 rf"\frac{{{format_number(self.exponentials[self.j], digits)}}}"
                 rf"{{{format_number(self.row_sum, digits)}}} = {format_number(self.weight, digits)}"]
        if not multiline:
            return " = ".join(parts)
        return (rf"\begin{{aligned}} {parts[0]} &= {parts[1]} \\ &= {parts[2]} \\ &= {parts[3]}"
                r" \end{aligned}")

    def exponential_latex(self, digits: int = 4) -> str:
        """Step 4 for the chosen cell: ``m_i``, ``e_ij`` and ``Z_i`` with the real values."""
        i, j = self.i + 1, self.j + 1
        return (rf"\begin{{aligned}} m_{{{i}}} &= \max_k S_{{{i},k}} = {format_number(self.row_maximum, digits)} \\ "
                rf"e_{{{i},{j}}} &= \exp(S_{{{i},{j}}} - m_{{{i}}}) = "
                rf"\exp({latex_number(self.row_scores[self.j], digits)} - {latex_number(self.row_maximum, digits)})"
                rf" = {format_number(self.exponentials[self.j], digits)}"
                rf" \\ Z_{{{i}}} &= \sum_k e_{{{i},k}} = {format_number(self.row_sum, digits)} \end{{aligned}}")

    def table(self, tokens: list[str]) -> pd.DataFrame:
        """One row per key token k of row i: score, exponential and weight."""
        return pd.DataFrame({"key token": [f"{token} #{k + 1}" for k, token in enumerate(tokens)],
                             "score S_ik": self.row_scores, "exp(S_ik − m_i)": self.exponentials,
                             "weight A_ik": self.weights})


def worked_softmax(scores: np.ndarray, i: int, j: int) -> WorkedSoftmax:
    """Row i of ``scores`` (n, n) through the softmax, for the 0-based cell (i, j)."""
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.shape[0]
    if scores.ndim != 2 or scores.shape[1] != n:
        raise ValueError(f"scores must be square, got shape {scores.shape}")
    if not (0 <= i < n and 0 <= j < n):
        raise ValueError(f"cell ({i}, {j}) is outside the {n}×{n} score matrix")
    row = scores[i]
    maximum = float(row.max())
    exponentials = np.exp(row - maximum)
    row_sum = float(exponentials.sum())
    return WorkedSoftmax(i=i, j=j, row_scores=row, row_maximum=maximum, exponentials=exponentials,
                         row_sum=row_sum, weights=exponentials / row_sum)


# ----- the other steps' numbers ----------------------------------------------------------------------------

def computed_steps(analysis: Analysis, scale: float = 1.0) -> formula.FormulaSteps:
    """The NumPy computation from the model's embeddings (the what-if uses ``scale``)."""
    return formula.compute_steps(analysis.embeddings, analysis.classifier_weights, analysis.bias, scale=scale)


@dataclass(frozen=True)
class PoolingCheck:
    pooled: np.ndarray              # (d,) GlobalAveragePooling1D output from Keras
    pooled_from_received: np.ndarray  # (d,) Σ_j W_j x_j with the model's W and x
    max_abs_difference: float
    received_total: float           # Σ_j W_j, which is 1 because every row of A sums to 1

    def table(self, max_dimensions: int = TABLE_MAX_DIMENSIONS) -> pd.DataFrame:
        """Both vectors side by side for the first ``max_dimensions`` dimensions."""
        d = self.pooled.shape[0]
        return matrix_table(np.vstack([self.pooled, self.pooled_from_received]),
                            ["ō (Keras GlobalAveragePooling1D)", "Σ_j W_j x_j (NumPy)"],
                            dimension_labels("ō", d), max_rows=2, max_columns=max_dimensions)


def pooling_check(analysis: Analysis) -> PoolingCheck:
    """Verify that the model's pooled vector equals Σ_j W_j x_j (W from the model's attention)."""
    from_received = np.asarray(analysis.received, dtype=np.float64) @ np.asarray(analysis.embeddings)  # (d,)
    pooled = np.asarray(analysis.pooled, dtype=np.float64)
    return PoolingCheck(pooled=pooled, pooled_from_received=from_received,
                        max_abs_difference=float(np.max(np.abs(pooled - from_received))),
                        received_total=float(np.sum(analysis.received)))


@dataclass(frozen=True)
class LogitSplit:
    bias: float
    contributions: np.ndarray   # (n,)
    total: float                # bias + Σ contributions
    logit: float                # the model's logit
    probability: float          # the model's probability
    sigmoid_of_total: float     # σ(bias + Σ contributions)

    @property
    def contributions_total(self) -> float:
        """Σ_j W_j (w·x_j), the part of the logit that comes from the tokens."""
        return float(np.sum(self.contributions))


def logit_split(analysis: Analysis) -> LogitSplit:
    """The exact per-token split of the logit, and its sum compared with the model's logit."""
    total = float(analysis.bias + np.sum(analysis.contributions))
    return LogitSplit(bias=float(analysis.bias), contributions=np.asarray(analysis.contributions), total=total,
                      logit=float(analysis.logit), probability=float(analysis.probability),
                      sigmoid_of_total=float(formula.sigmoid(total)))


def row_maxima(matrix: np.ndarray) -> np.ndarray:
    """(n, m) -> (n,) largest value of each row (m_i of the softmax)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
    return matrix.max(axis=1)


def row_sums(matrix: np.ndarray) -> np.ndarray:
    """(n, m) -> (n,) sum of each row."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
    return matrix.sum(axis=1)


# ----- proof panel -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProofRow:
    quantity: str
    max_abs_difference: float
    passed: bool


PROOF_LABELS = {
    "scores": "scores S = X Xᵀ",
    "attention": "attention A (softmax)",
    "attention_output": "outputs O = A X",
    "pooled": "pooled vector ō",
    "logit": "logit z",
    "probability": "probability p",
    "pooled_from_received": "ō = Σ_j W_j x_j (step 6)",
    "logit_split": "z = b + Σ_j W_j (w·x_j) (step 7)",
    "row_sums": "rows of A sum to 1",
}


def proof_rows(analysis: Analysis, threshold: float = PROOF_THRESHOLD,
               steps: formula.FormulaSteps | None = None) -> list[ProofRow]:
    """Keras (the Analysis fields) versus NumPy (``formula.compute_steps``): max |difference| per quantity.

    ``steps``: ``computed_steps(analysis)`` when the caller already has them (computed here otherwise)."""
    steps = steps if steps is not None else computed_steps(analysis)
    differences = formula.max_abs_differences(steps, analysis)
    differences["pooled_from_received"] = pooling_check(analysis).max_abs_difference
    split = logit_split(analysis)
    differences["logit_split"] = abs(split.total - split.logit)
    differences["row_sums"] = float(np.max(np.abs(row_sums(analysis.attention) - 1.0)))
    return [ProofRow(quantity=PROOF_LABELS[name], max_abs_difference=value,
                     passed=bool(np.isfinite(value) and value <= threshold))
            for name, value in differences.items()]


@dataclass(frozen=True)
class ProofVerdict:
    passed: bool                  # every row passed
    largest_difference: float     # the worst max |Keras − NumPy| over all quantities
    failed_quantities: list[str]


def proof_verdict(rows: list[ProofRow]) -> ProofVerdict:
    """Summarise the proof panel in one pass/fail line."""
    if not rows:
        raise ValueError("the proof needs at least one row, got 0")
    return ProofVerdict(passed=all(row.passed for row in rows),
                        largest_difference=max(row.max_abs_difference for row in rows),
                        failed_quantities=[row.quantity for row in rows if not row.passed])


def proof_table(rows: list[ProofRow], threshold: float = PROOF_THRESHOLD) -> pd.DataFrame:
    return pd.DataFrame({"quantity": [row.quantity for row in rows],
                         "max |Keras − NumPy|": [row.max_abs_difference for row in rows],
                         f"pass (≤ {threshold:g})": ["✅ pass" if row.passed else "❌ fail" for row in rows]})


# ----- what if ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WhatIf:
    """The model's head recomputed with the scores multiplied by ``scale`` before the softmax.

    At ``scale == 1`` this *is* the trained model, so the model's own attention, logit and probability are
    returned unchanged (not a NumPy recomputation that differs in the 8th decimal).
    """

    scale: float
    is_trained_model: bool
    attention: np.ndarray        # (n, n)
    received: np.ndarray         # (n,)
    logit: float
    probability: float
    trained_probability: float
    trained_logit: float
    mean_largest_weight: float   # mean over rows of max_j A_ij: 1/n = flat, 1 = every row on one token
    trained_mean_largest_weight: float

    @property
    def label(self) -> str:
        return "positive" if self.probability >= 0.5 else "negative"

    @property
    def probability_change(self) -> float:
        """Hypothetical minus real probability (exactly 0 at scale 1)."""
        return self.probability - self.trained_probability

    @property
    def uniform_weight(self) -> float:
        """1/n: every weight of a completely flat attention row."""
        return 1.0 / self.attention.shape[0]


def mean_largest_weight(attention: np.ndarray) -> float:
    """(n, n) -> mean over rows of the largest weight: how sharp the attention is."""
    attention = np.asarray(attention, dtype=np.float64)
    return float(attention.max(axis=1).mean())


def what_if(analysis: Analysis, scale: float) -> WhatIf:
    """Hypothetical prediction when the scores are multiplied by ``scale`` (1.0 = the trained model)."""
    scale = float(scale)
    trained_sharpness = mean_largest_weight(analysis.attention)
    if scale == 1.0:
        return WhatIf(scale=1.0, is_trained_model=True, attention=np.asarray(analysis.attention),
                      received=np.asarray(analysis.received), logit=float(analysis.logit),
                      probability=float(analysis.probability), trained_probability=float(analysis.probability),
                      trained_logit=float(analysis.logit), mean_largest_weight=trained_sharpness,
                      trained_mean_largest_weight=trained_sharpness)
    steps = computed_steps(analysis, scale=scale)
    return WhatIf(scale=scale, is_trained_model=False, attention=steps.attention, received=steps.received,
                  logit=steps.logit, probability=float(steps.probability),
                  trained_probability=float(analysis.probability), trained_logit=float(analysis.logit),
                  mean_largest_weight=mean_largest_weight(steps.attention),
                  trained_mean_largest_weight=trained_sharpness)


# ----- tables ----------------------------------------------------------------------------------------------

def unknown_count(analysis: Analysis) -> int:
    """How many of the n tokens are not in the model's vocabulary."""
    return int(np.count_nonzero(analysis.oov))


def token_table(analysis: Analysis) -> pd.DataFrame:
    """Step 1: position (1-based), token, vocabulary id, known/unknown."""
    return pd.DataFrame({"position": np.arange(1, analysis.n_tokens + 1), "token": list(analysis.tokens),
                         "id": np.asarray(analysis.token_ids, dtype=np.int64),
                         "in vocabulary": ["no (unknown → id 1)" if unknown else "yes" for unknown in analysis.oov]})


def matrix_table(matrix: np.ndarray, row_labels: list[str], column_labels: list[str],
                 max_rows: int = TABLE_MAX_TOKENS, max_columns: int = TABLE_MAX_DIMENSIONS) -> pd.DataFrame:
    """The top-left ``max_rows`` × ``max_columns`` corner of ``matrix`` (n, m) with labels (exact values)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.shape != (len(row_labels), len(column_labels)):
        raise ValueError(f"matrix has shape {matrix.shape} but there are {len(row_labels)} row labels and "
                         f"{len(column_labels)} column labels")
    rows, columns = min(max_rows, matrix.shape[0]), min(max_columns, matrix.shape[1])
    return pd.DataFrame(matrix[:rows, :columns], index=list(row_labels[:rows]),
                        columns=list(column_labels[:columns]))


def dimension_labels(prefix: str, d: int) -> list[str]:
    """["x[1]", …, "x[d]"]-style column labels."""
    return [f"{prefix}[{k}]" for k in range(1, d + 1)]


def token_split_table(analysis: Analysis) -> pd.DataFrame:
    """Step 6/7: per token W_j, w·x_j and the contribution W_j (w·x_j)."""
    return pd.DataFrame({"token": analysis.token_labels, "W_j (received)": np.asarray(analysis.received),
                         "w·x_j": np.asarray(analysis.token_logits),
                         "contribution W_j (w·x_j)": np.asarray(analysis.contributions)})


def truncation_note(n_tokens: int, d: int, max_tokens: int, max_dimensions: int | None = None) -> str | None:
    """A sentence saying what a table/figure leaves out, or None when it shows everything."""
    parts = []
    if n_tokens > max_tokens:
        parts.append(f"the first {max_tokens} of {n_tokens} tokens")
    if max_dimensions is not None and d > max_dimensions:
        parts.append(f"the first {max_dimensions} of {d} dimensions")
    if not parts:
        return None
    return "Showing " + " and ".join(parts) + " to stay readable; the export and the proof use all of them."


# ----- export ----------------------------------------------------------------------------------------------

def _markdown_table(frame: pd.DataFrame, digits: int = 4, index: bool = True) -> str:
    header = ([""] if index else []) + [markdown_cell(column) for column in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, row in frame.iterrows():
        cells = [markdown_cell(label)] if index else []
        for value in row:
            if isinstance(value, (float, np.floating)):
                cells.append(format_number(value, digits))
            else:
                cells.append(markdown_cell(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_export(analysis: Analysis, i: int, j: int, scale: float = 1.0, digits: int = 4,
                    max_tokens: int = TABLE_MAX_TOKENS, max_dimensions: int = TABLE_MAX_DIMENSIONS) -> str:
    """The whole worked calculation for ``analysis`` as Markdown with LaTeX (``$$ … $$``) formulas.

    ``i`` and ``j`` are the 0-based chosen cell; ``scale`` adds the what-if section when it is not 1.
    """
    n, d = analysis.n_tokens, analysis.embeddings.shape[1]
    labels = analysis.token_labels
    lines = ["# attnviz: the attention formula, step by step", "",
             f"Text: {markdown_cell(analysis.text)}", "",
             f"Model: `{markdown_cell(analysis.model_name)}`, n = {n} tokens, d = {d} dimensions. "
             f"Prediction: **{analysis.label}**, p = {format_number(analysis.probability, 6)}.", ""]
    note = truncation_note(n, d, max_tokens, max_dimensions)
    if note:
        lines += [f"*{note}*", ""]

    def section(step: Step) -> None:
        lines.extend([f"## {step.number}. {step.title}", "", "$$", step.latex, "$$", "", step.explanation, ""])

    section(STEPS[0])
    lines += [_markdown_table(token_table(analysis).head(max_tokens), index=False), ""]
    section(STEPS[1])
    lines += [_markdown_table(matrix_table(analysis.embeddings, labels, dimension_labels("x", d),
                                           max_tokens, max_dimensions), digits), ""]
    section(STEPS[2])
    lines += [_markdown_table(matrix_table(analysis.scores, labels, labels, max_tokens, max_tokens), digits), ""]
    worked = worked_score(analysis.embeddings, i, j)
    lines += [f"Worked cell ({i + 1}, {j + 1}): {markdown_cell(labels[i])} · {markdown_cell(labels[j])}", "",
              "$$", worked.latex(f"x_{{{i + 1}}}", f"x_{{{j + 1}}}", f"S_{{{i + 1},{j + 1}}}", digits=digits), "$$",
              ""]
    steps = computed_steps(analysis)
    section(STEPS[3])
    lines += [_markdown_table(matrix_table(steps.shifted_exponentials, labels, labels, max_tokens, max_tokens),
                              digits), "",
              "Row sums Z_i: " + ", ".join(format_number(value, digits) for value in steps.row_sums[:max_tokens]),
              "", "$$", worked_softmax(analysis.scores, i, j).exponential_latex(digits), "$$", ""]
    section(STEPS[4])
    lines += [_markdown_table(matrix_table(analysis.attention, labels, labels, max_tokens, max_tokens), digits), "",
              "$$", worked_softmax(analysis.scores, i, j).latex(digits), "$$", ""]
    section(STEPS[5])
    check = pooling_check(analysis)
    lines += [_markdown_table(token_split_table(analysis).head(max_tokens), digits, index=False), "",
              f"max |pooled − Σ_j W_j x_j| = {format_number(check.max_abs_difference, 2)}", ""]
    section(STEPS[6])
    split = logit_split(analysis)
    lines += ["$$", rf"z = b + \sum_j W_j (w \cdot x_j) = {latex_number(split.bias, digits)} + "
              rf"{latex_number(split.contributions_total, digits)} = {format_number(split.total, digits)}",
              "$$", "", "$$", rf"p = \sigma({format_number(analysis.logit, digits)}) = "
              rf"{format_number(analysis.probability, 6)}", "$$", ""]
    section(STEPS[7])
    lines += [_markdown_table(proof_table(proof_rows(analysis, steps=steps)), 2, index=False), ""]
    if scale != 1.0:
        result = what_if(analysis, scale)
        lines += ["## What if (hypothetical, not the trained model)", "",
                  f"Scores multiplied by {format_number(scale, 4)} before the softmax: p would be "
                  f"{format_number(result.probability, 6)} ({result.label}); the trained model gives "
                  f"{format_number(result.trained_probability, 6)}.", ""]
    return "\n".join(lines)
