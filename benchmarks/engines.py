"""ONNX Runtime against OpenVINO, fp32 and int8, on DistilBERT-base sentiment, in one run.

    .venv/bin/python -m benchmarks.engines --work /tmp/nlpbatch-engines --docs 240 --threads 2

Each variant is one `nlpbatch run --json` over the same documents of benchmarks/corpus.py,
so every engine gets the same length-sorted batches; docs_per_second counts from the first
document to the last (model loading and the int8 gate excluded). The model is DistilBERT-base
from its default config with random weights (benchmarks/corpus.build_distilbert): random
weights leave labels near ties, so int8 runs with `--gate-threshold 0` (the gate is measured,
not enforced) and the label agreement of each int8 with its own fp32 is printed beside it.
Variants alternate for `--rounds` rounds; the best rate of each is kept, since a shared
machine only ever slows a run down. Compare ratios: absolute speeds drift with the machine.
A later start of each fp32 engine, its export cached, is timed too (model_load_seconds; for
int8 that figure holds the gate, so it is not shown).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.corpus import build_distilbert, write_corpus
from nlpbatch.modelref import resolve

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = (("onnx", "fp32"), ("onnx", "int8"), ("openvino", "fp32"), ("openvino", "int8"))


def run(env: dict[str, str], corpus: Path, model: Path, out: Path, variant: tuple[str, str], threads: int):
    """The report of one `nlpbatch run` of `variant` (backend, precision)."""
    backend, precision = variant
    args = [sys.executable, "-m", "producer", "run", str(corpus), "-t", "sentiment", "-m", str(model)]
    args += ["-o", str(out), "--json", "-q", "--threads", str(threads), "--backend", backend]
    args += ["--precision", precision] + (["--gate-threshold", "0"] if precision == "int8" else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def labels(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line)["label"] for line in fh]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/nlpbatch-engines")
    parser.add_argument("--docs", type=int, default=240)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NLPBATCH_HOME": str(work / "home"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env["TOKENIZERS_PARALLELISM"] = "false"
    corpus = write_corpus(work / "corpus.jsonl", args.docs)
    minilm = resolve("sentence-transformers/all-MiniLM-L6-v2").path
    model = build_distilbert(work / "distilbert-base", vocab_from=minilm)
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for round_ in range(args.rounds + 1):  # round 0 makes the exports and is not counted
        for backend, precision in VARIANTS:
            out = work / f"{backend}-{precision}.jsonl"
            report = run(env, corpus, model, out, (backend, precision), args.threads)
            key = (backend, precision)
            if round_ == 0:
                continue
            if key not in best or report["docs_per_second"] > best[key]["docs_per_second"]:
                best[key] = report
            best[key]["start_s"] = min(best[key].get("start_s", 1e9), report["model_load_seconds"])
    base = best["onnx", "fp32"]["docs_per_second"]
    print(f"{'engine':<10} {'precision':<9} {'docs/s':>7} {'x onnx fp32':>11} {'start s':>7} agreement")
    for backend, precision in VARIANTS:
        r = best[backend, precision]
        agree = ""
        if precision == "int8":
            a, b = labels(work / f"{backend}-fp32.jsonl"), labels(work / f"{backend}-int8.jsonl")
            agree = f"{sum(x == y for x, y in zip(a, b, strict=True)) / len(a):.3f} of labels vs its fp32"
        rate = r["docs_per_second"]
        start = f"{r['start_s']:>7.2f}" if precision == "fp32" else f"{'-':>7}"
        print(f"{backend:<10} {precision:<9} {rate:>7.2f} {rate / base:>11.2f} {start} {agree}")


if __name__ == "__main__":
    main()
