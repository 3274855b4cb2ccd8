"""The ``--strategy`` option of ``python -m attnviz train``: a tf.distribute strategy wraps model creation.

One tiny run (80 synthetic sentences, 1 epoch) proves that a model trained under ``MirroredStrategy``
saves, loads back and analyses a sentence like any other model.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from attnviz import cli, train
from attnviz.model import ModelConfig


def tiny_frame() -> pd.DataFrame:
    positive = [f"a great warm lovely film number {index}" for index in range(40)]
    negative = [f"a dull awful boring film number {index}" for index in range(40)]
    return pd.DataFrame({"text": positive + negative, "label": [1] * 40 + [0] * 40})


def test_default_strategy_is_tensorflows_current_strategy():
    import tensorflow as tf

    assert train.distribution_strategy("default") is tf.distribute.get_strategy()


def test_unknown_strategy_names_the_choices():
    with pytest.raises(ValueError, match="default, mirrored"):
        train.distribution_strategy("tpu-pod")


def test_cli_accepts_only_known_strategies(capsys):
    arguments = cli.build_parser().parse_args(["train", "--strategy", "mirrored"])
    assert arguments.strategy == "mirrored"
    assert cli.build_parser().parse_args(["train"]).strategy == "default"
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "--strategy", "everything"])
    assert "invalid choice" in capsys.readouterr().err


def test_mirrored_strategy_trains_a_model_that_loads_and_analyses(tmp_path):
    import attnviz

    strategy = train.distribution_strategy("mirrored")
    config = train.TrainConfig(model=ModelConfig(vocabulary_size=100, embedding_dim=8), epochs=1, batch_size=16)
    metrics = train.run_training(tmp_path / "mirrored", config, corpus="tiny", frame=tiny_frame(), verbose=0,
                                 include_baseline=False, strategy=strategy)
    assert metrics["distribution_strategy"] == {"name": "MirroredStrategy",
                                                "replicas": strategy.num_replicas_in_sync}
    saved = json.loads((tmp_path / "mirrored" / "metrics.json").read_text(encoding="utf-8"))
    assert saved["distribution_strategy"]["name"] == "MirroredStrategy"
    result = attnviz.load_model(tmp_path / "mirrored").analyze("a great film")
    assert result.tokens == ["a", "great", "film"]
    assert result.attention.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
