"""The command line: predict (table and JSON), help on every subcommand, and a tiny reproducible training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attnviz import train
from attnviz.cli import build_parser, main
from attnviz.model import ModelConfig

REPOSITORY = Path(__file__).resolve().parent.parent


def test_predict_prints_label_probability_and_matrix(model, capsys):
    assert main(["predict", "not bad at all, not bad"]) == 0
    output = capsys.readouterr().out
    result = model.analyze("not bad at all, not bad")
    assert f"P(positive) = {result.probability:.4f}" in output
    assert output.splitlines()[0].startswith(result.label)
    # one row per position, repeated words included
    assert "not #1" in output and "not #5" in output and "bad #6" in output


def test_predict_json_has_the_analysis_fields(model, capsys):
    assert main(["predict", "a gorgeous film", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    result = model.analyze("a gorgeous film")
    assert payload["tokens"] == result.tokens and payload["label"] == result.label
    np.testing.assert_allclose(payload["attention"], result.attention)
    assert payload["probability"] == pytest.approx(result.probability)


def test_predict_bad_input_is_a_message_not_a_traceback(capsys):
    assert main(["predict", "?!?!"]) == 2
    error = capsys.readouterr().err
    assert "no words the model can read" in error and "Traceback" not in error


@pytest.mark.parametrize("command", ["predict", "data", "train", "evaluate"])
def test_every_subcommand_has_help(command):
    completed = subprocess.run([sys.executable, "-m", "attnviz", command, "--help"], cwd=REPOSITORY,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0 and "usage:" in completed.stdout


def test_parser_rejects_nonsense_options():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--epochs", "0"])


@pytest.mark.slow
def test_tiny_training_is_reproducible_and_atomic(english_split, tmp_path):
    frame = english_split.train.head(300)
    config = train.TrainConfig(model=ModelConfig(vocabulary_size=400, embedding_dim=8), epochs=2, batch_size=32)
    first = train.run_training(tmp_path / "first", config, frame=frame, verbose=0, include_baseline=False)
    second = train.run_training(tmp_path / "second", config, frame=frame, verbose=0, include_baseline=False)
    assert first["curves"]["loss"] == second["curves"]["loss"]
    assert first["test_accuracy"] == second["test_accuracy"]
    assert sorted(p.name for p in (tmp_path / "first").iterdir()) == ["metrics.json", "model.keras"]
    saved = json.loads((tmp_path / "first" / "metrics.json").read_text())
    assert saved["config"]["vocabulary_size"] == 400 and len(saved["curves"]["loss"]) == 2
