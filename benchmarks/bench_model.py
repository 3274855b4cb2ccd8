"""Latency of one sentence through the three paths, side by side in one run.

    python benchmarks/bench_model.py [--repeats 200]

* ``analyze()``   - the app's path: tokenise + one traced probe call + Analysis (cache cleared every call)
* ``predict()``   - ``keras_model.predict`` on the same text (what the DESIGN notes warn against per sentence)
* ``numpy``       - the formula reference: tokenise + embedding lookup + ``formula.compute_steps``

Prints p50/p95 in milliseconds per sentence length and the ratios predict/analyze and numpy/analyze.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import attnviz
from attnviz import formula

LENGTHS = (8, 32, 128, 256)


def sentence_of(model, length: int) -> str:
    # Real vocabulary words (skip padding and [UNK]) so every path does the full work.
    words = model.vocabulary[2:2 + 500]
    return " ".join(words[(7 * k) % len(words)] for k in range(length))


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


def time_calls(function, repeats: int) -> list[float]:
    function()  # warm-up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--predict-repeats", type=int, default=40, help="predict() is slow; fewer repeats")
    arguments = parser.parse_args()

    model = attnviz.load_model("en")
    import tensorflow as tf

    embedding_matrix = model.keras_model.get_layer("embedding").embeddings.numpy().astype(np.float64)
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, tensorflow {tf.__version__}")
    print(f"{'tokens':>6} | {'analyze p50':>11} {'p95':>7} | {'predict p50':>11} {'p95':>7} | "
          f"{'numpy p50':>9} {'p95':>7} | {'predict/analyze':>15} {'numpy/analyze':>13}")
    for length in LENGTHS:
        text = sentence_of(model, length)
        assert model.analyze(text).n_tokens == length

        def run_analyze(text=text):
            model.clear_cache()
            model.analyze(text)

        def run_predict(text=text):
            model.keras_model.predict(tf.constant([[text]]), verbose=0)

        def run_numpy(text=text):
            _, token_ids = model.tokenize(text)
            formula.compute_steps(embedding_matrix[token_ids[:model.max_tokens]], model.classifier_weights,
                                  model.bias)

        analyze_p50, analyze_p95 = percentiles(time_calls(run_analyze, arguments.repeats))
        predict_p50, predict_p95 = percentiles(time_calls(run_predict, arguments.predict_repeats))
        numpy_p50, numpy_p95 = percentiles(time_calls(run_numpy, arguments.repeats))
        print(f"{length:>6} | {analyze_p50:>9.2f}ms {analyze_p95:>5.2f}ms | {predict_p50:>9.2f}ms "
              f"{predict_p95:>5.2f}ms | {numpy_p50:>7.2f}ms {numpy_p95:>5.2f}ms | "
              f"{predict_p50 / analyze_p50:>14.1f}x {numpy_p50 / analyze_p50:>12.2f}x")


if __name__ == "__main__":
    main()
