"""Readiness check: prove that a model loads and analyses a sentence, not just that the web server is up.

Streamlit's ``/_stcore/health`` answers "ok" as soon as the server listens, even when ``models/en`` is
missing or corrupted. This check loads the model the app would load and runs one real analysis::

    python -m attnviz.health                 # the shipped default model; exit 0 = ready, 1 = not ready
    python -m attnviz.health --model zh      # a bundled/user model name or a model directory
    python -m attnviz.health --json          # one JSON line for probes and logs

Use it once at container start (Docker entrypoint, Kubernetes ``startupProbe``); it starts TensorFlow, so it
is too heavy for a probe that runs every few seconds (use ``/_stcore/health`` for those).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass

from attnviz.errors import AttnvizError

CHECK_SENTENCE = "a gorgeous , witty film that never feels long"
ROW_SUM_TOLERANCE = 1e-4  # float32 softmax rows sum to 1 within this


@dataclass(frozen=True)
class ReadinessReport:
    ready: bool
    model: str | None
    message: str
    seconds: float
    n_tokens: int = 0
    probability: float | None = None


def check_readiness(model_name: str | None = None, sentence: str = CHECK_SENTENCE) -> ReadinessReport:
    """Load ``model_name`` (None = the default) and analyse ``sentence``; never raises for model problems.

    Ready means: the model directory loads, the analysis has at least one token, every attention row
    sums to 1, and the probability is a finite number in [0, 1].
    """
    started = time.perf_counter()

    def report(ready: bool, message: str, **details) -> ReadinessReport:
        return ReadinessReport(ready=ready, model=model_name, message=message,
                               seconds=round(time.perf_counter() - started, 3), **details)

    try:
        from attnviz import load_model

        model = load_model(model_name)
        result = model.analyze(sentence)
    except AttnvizError as error:
        return report(False, str(error))
    except Exception as error:  # an unexpected failure must still produce a "not ready" answer, not a crash
        return report(False, f"unexpected {type(error).__name__}: {error}")
    model_name = model.name
    row_sums = result.attention.sum(axis=1)  # (n,)
    if result.n_tokens == 0:
        return report(False, "the check sentence produced no tokens")
    if not all(abs(float(total) - 1.0) <= ROW_SUM_TOLERANCE for total in row_sums):
        return report(False, f"attention rows do not sum to 1 (sums {row_sums.round(6).tolist()})",
                      n_tokens=result.n_tokens)
    if not (math.isfinite(result.probability) and 0.0 <= result.probability <= 1.0):
        return report(False, f"probability is not in [0, 1]: {result.probability}", n_tokens=result.n_tokens)
    return report(True, f"model {model.name!r} analysed {result.n_tokens} tokens: {result.label} "
                        f"(P(positive) = {result.probability:.3f})",
                  n_tokens=result.n_tokens, probability=round(result.probability, 6))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnviz.health",
                                     description="Exit 0 when the model loads and analyses a sentence, else 1.")
    parser.add_argument("--model", default=None, help="bundled/user model name or directory (default: shipped)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON line")
    arguments = parser.parse_args(argv)
    report = check_readiness(arguments.model)
    if arguments.json:
        print(json.dumps(asdict(report), ensure_ascii=False))
    else:
        print(f"{'ready' if report.ready else 'NOT READY'}: {report.message} ({report.seconds} s)",
              file=sys.stdout if report.ready else sys.stderr)
    return 0 if report.ready else 1


if __name__ == "__main__":
    sys.exit(main())
