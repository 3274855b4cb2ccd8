"""The NumPy reference, on arrays only (no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz import formula


@pytest.fixture
def random_case():
    rng = np.random.default_rng(0)
    return rng.normal(size=(7, 5)), rng.normal(size=5), 0.3


def test_steps_are_consistent(random_case):
    embeddings, weights, bias = random_case
    steps = formula.compute_steps(embeddings, weights, bias)
    np.testing.assert_allclose(steps.attention.sum(axis=1), 1.0)
    np.testing.assert_allclose(steps.pooled, steps.pooled_from_received)
    assert steps.bias + steps.contributions.sum() == pytest.approx(steps.logit)
    assert steps.probability == pytest.approx(1 / (1 + np.exp(-steps.logit)))
    expected = np.exp(embeddings @ embeddings.T)
    np.testing.assert_allclose(steps.attention, expected / expected.sum(axis=1, keepdims=True))


def test_scale_zero_gives_uniform_attention(random_case):
    embeddings, weights, bias = random_case
    steps = formula.compute_steps(embeddings, weights, bias, scale=0.0)
    np.testing.assert_allclose(steps.attention, 1 / 7)


def test_softmax_is_stable_for_huge_scores():
    result = formula.softmax_rows(np.array([[1000.0, 0.0], [0.0, -1000.0]]))
    np.testing.assert_allclose(result, [[1.0, 0.0], [1.0, 0.0]])
    assert formula.sigmoid(-1000.0) == 0.0 and formula.sigmoid(1000.0) == 1.0


def test_shape_errors_name_both_sizes():
    with pytest.raises(ValueError, match="5 columns, expected 4"):
        formula.token_logits(np.zeros((3, 5)), np.zeros(4))
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        formula.logit_contributions(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="scale"):
        formula.compute_steps(np.zeros((2, 2)), np.zeros(2), 0.0, scale=-1)
