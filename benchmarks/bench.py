"""`make bench`: nlpbatch against transformers, optimum and other CPU engines, in one run on one machine.

Every variant runs in its own process (so its peak RSS is its own) over the same documents
of one deterministic corpus, and is timed from its first document to its last, model
loading excluded. Whole-process rows time a command as a user feels it, start-up included.
Results go to benchmarks/results/RESULTS.md and throughput.png.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.corpus import build_distilbert, slice_corpus, write_corpus
from benchmarks.process import WallResult, whole_run, whole_script
from benchmarks.results import Result, write_results
from benchmarks.runners import MINILM, Part, anchor, baseline, run_variant, submit_variant
from nlpbatch.modelref import resolve
from worker.engine import available_cores

ROOT = Path(__file__).resolve().parents[1]
#: Documents from the corpus' tail that NNCF calibrates OpenVINO int8 on (never measured ones).
CALIBRATION_DOCS = 128
#: `nlpbatch run`'s options for its OpenVINO backend (the `openvino` extra).
OPENVINO = ("--backend", "openvino")


class Bench:
    """The shared setup: work folder, environment, corpus, models and token lengths."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.work).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.threads = args.threads or available_cores()
        self.env = {
            **os.environ,
            "NLPBATCH_HOME": str(self.work / "home"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
        }
        measured = args.docs * (args.scale if not args.quick else 1)
        total = max(args.corpus_docs, measured + args.calibration_docs)  # calibration: the tail
        self.corpus = write_corpus(self.work / "corpus.jsonl", total)
        # The whole-process rows' corpus: shorter documents, as in chat, reviews and tickets.
        self.short = write_corpus(self.work / "short.jsonl", args.wall_docs, seed=17, words=(10, 120))
        self.few = slice_corpus(self.short, self.work / "few.jsonl", 0, 10)
        self.scaled_set = slice_corpus(self.corpus, self.work / "scaled.jsonl", 0, args.docs * args.scale)
        minilm = resolve(MINILM).path
        self.distilbert = build_distilbert(self.work / "distilbert-base", vocab_from=minilm)
        self.onnx: dict[tuple[str, str], str] = {}
        for task, model in (("sentiment", str(self.distilbert)), ("embed", MINILM)):
            for precision in ("fp32", "int8"):
                out = self.nlpbatch("models", "export", model, "-t", task, "--precision", precision)
                self.onnx[task, precision] = out.strip().splitlines()[-1]
        self.lengths = {
            "sentiment": token_lengths(self.distilbert, self.corpus),
            "embed": token_lengths(minilm, self.corpus),
        }

    def nlpbatch(self, *args: str, timeout: float = 900) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "producer", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"nlpbatch {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def python(self, *args: str, module: str = "benchmarks.variants") -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    def anchor_model(self, engine: str, precision: str) -> str:
        """The model file or folder an engine anchor reads, made once and kept in the work folder."""
        if engine == "torch":
            return str(self.distilbert)
        if engine == "openvino" and precision == "fp32":
            return str(Path(self.onnx["sentiment", "fp32"]) / "model.onnx")
        if engine == "openvino":
            docs = self.args.calibration_docs
            out = self.work / f"openvino-int8-{docs}" / "model.xml"
            if not out.is_file():
                total = sum(1 for _ in self.corpus.open(encoding="utf-8"))
                tail = slice_corpus(self.corpus, self.work / "calibration.jsonl", total - docs, total)
                self.python("ov-quantize", "--model", self.anchor_model("openvino", "fp32"),
                            "--head", str(self.distilbert), "--corpus", str(tail), "--out", str(out),
                            module="benchmarks.anchors")  # fmt: skip
            return str(out)
        out = self.work / "ctranslate2-int8"
        if not (out / "model.bin").is_file():
            self.python("ct2-convert", "--model", str(self.distilbert), "--out", str(out),
                        module="benchmarks.anchors")  # fmt: skip
        return str(out)


def token_lengths(model: Path, corpus: Path) -> list[int]:
    """Tokens per document, truncated as the pipelines truncate."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model))
    texts = [json.loads(line)["text"] for line in corpus.open(encoding="utf-8")]
    return [len(ids) for ids in tok(texts, truncation=True)["input_ids"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=240, help="documents every variant runs")
    parser.add_argument("--rounds", type=int, default=1, help="interleave the variants over this many slices")
    parser.add_argument("--corpus-docs", type=int, default=2000, help="documents in the corpus")
    parser.add_argument("--scale", type=int, default=10, help="the second corpus size, times --docs")
    parser.add_argument("--wall-docs", type=int, default=1200, help="documents of the whole-process rows")
    parser.add_argument(
        "--calibration-docs", type=int, default=CALIBRATION_DOCS, help="OpenVINO int8's calibration set"
    )
    parser.add_argument(
        "--submit-chunk", type=int, default=0, help="submit's chunk size [default: a quarter]"
    )
    parser.add_argument("--threads", type=int, default=0, help="model threads [default: all cores]")
    parser.add_argument(
        "--quick", action="store_true", help="a check that every row runs: few documents, no 10x run"
    )
    parser.add_argument("--work", default=str(ROOT / "out" / "bench"))
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    if args.quick:
        args.wall_docs, args.calibration_docs = min(args.wall_docs, 40), min(args.calibration_docs, 16)
    started = time.perf_counter()
    bench = Bench(args)
    n = "1024" if args.quick else "4096"
    peaks = [bench.python("matmul", "--threads", str(bench.threads), "--n", n)["gflops"]]
    half = max(1, bench.threads // 2)
    s, e, p = "sentiment", "embed", functools.partial
    pipe, run = p(baseline, bench), p(run_variant, bench)
    args.submit_chunk = args.submit_chunk or max(1, args.docs // args.rounds // 4)
    # One process per core, in chunks as small as submit's so that every process has work.
    spread = ("--processes", str(bench.threads), "--threads", "1", "--chunk-size", str(args.submit_chunk))
    submit, engine = p(submit_variant, bench, chunk_size=args.submit_chunk), p(anchor, bench)
    # Variant 2 (PyTorch pipeline, batch 32) is left out: slower than variant 1 on every run
    # (it pads in input order), and the slowest row of the bench.
    plan: list[tuple[str, Callable[[str, Part], Result]]] = [
        ("1 pipeline, PyTorch, default batch", p(pipe, task=s, batch_size=0, onnx=False)),
        ("3a optimum ORT pipeline, batch 32", p(pipe, task=s, batch_size=32, onnx=True)),
        ("3b optimum ORT pipeline, default batch", p(pipe, task=s, batch_size=0, onnx=True)),
        ("A1 OpenVINO fp32, run's batches", p(engine, engine="openvino", precision="fp32")),
        (
            "A2 OpenVINO int8 (NNCF, SmoothQuant), run's batches",
            p(engine, engine="openvino", precision="int8"),
        ),
        ("A3 CTranslate2 int8, run's batches", p(engine, engine="ctranslate2", precision="int8")),
        ("A4 PyTorch fp32, run's batches", p(engine, engine="torch", precision="fp32")),
        ("4 nlpbatch run fp32", p(run, task=s, precision="fp32")),
        ("4o nlpbatch run fp32, --backend openvino", p(run, task=s, precision="fp32", extra=OPENVINO)),
        (
            f"4p nlpbatch run fp32, {bench.threads} processes x 1 thread, chunks of {args.submit_chunk}",
            p(run, task=s, precision="fp32", extra=spread),
        ),
        ("5 nlpbatch run int8", p(run, task=s, precision="int8")),
        ("5o nlpbatch run int8, --backend openvino", p(run, task=s, precision="int8", extra=OPENVINO)),
        (
            f"5p nlpbatch run int8, {bench.threads} processes x 1 thread, chunks of {args.submit_chunk}",
            p(run, task=s, precision="int8", extra=spread),
        ),
        (f"6a nlpbatch submit, 1 worker x {bench.threads} threads", p(submit, workers=[bench.threads])),
        (f"6b nlpbatch submit, 2 workers x {half} thread(s)", p(submit, workers=[half, half])),
        ("embed: pipeline, PyTorch, default batch", p(pipe, task=e, batch_size=0, onnx=False)),
        ("embed: nlpbatch run fp32", p(run, task=e, precision="fp32")),
        ("embed: nlpbatch run int8", p(run, task=e, precision="int8")),
    ]
    # Each round runs every variant on its own slice of the documents: a machine that
    # slows down during the run slows every variant alike.
    size = -(-args.docs // args.rounds)
    parts: list[Part] = []
    for r in range(args.rounds):
        end = min(args.docs, (r + 1) * size)
        parts.append((slice_corpus(bench.corpus, bench.work / f"part-{r}.jsonl", r * size, end), r * size))
    if not args.quick:
        name = f"10x corpus: nlpbatch run int8, {args.docs * args.scale} docs"
        plan.append((name, p(run, task=s, precision="int8")))
    totals: dict[str, Result] = {}
    for r, part in enumerate(parts):
        for name, fn in plan:
            scaled = name.startswith("10x")
            if scaled and r:
                continue
            t0 = time.perf_counter()
            result = fn(name, (bench.scaled_set, 0) if scaled else part)
            totals[name] = totals[name].merged(result) if name in totals else result
            took = time.perf_counter() - t0
            print(f"round {r + 1}, {name}: {result.docs_per_second:.2f} docs/s ({took:.0f}s)", flush=True)
    results = list(totals.values())
    walls = whole_process(bench)
    peaks.append(bench.python("matmul", "--threads", str(bench.threads), "--n", n)["gflops"])
    wall = time.perf_counter() - started
    command = "make bench" if not args.quick else "python -m benchmarks.bench " + " ".join(sys.argv[1:])
    md, png = write_results(Path(args.results), results, walls, peaks, bench.threads, args, command, wall)
    print(f"wrote {md} and {png} in {wall:.0f}s")


def whole_process(bench: Bench) -> list[WallResult]:
    """The rows timed as a user feels them: the short corpus, then 10 documents from cold."""
    distilbert, minilm, p = str(bench.distilbert), str(resolve(MINILM).path), functools.partial
    docs = bench.args.wall_docs
    spread = ("--processes", str(bench.threads), "--threads", "1")
    script = p(whole_script, bench, corpus=bench.short, docs=docs, task="sentiment", model=distilbert)
    run = p(whole_run, bench, corpus=bench.short, docs=docs, task="sentiment", model=distilbert)
    # Start-up is most of the time of 10 documents: the median of three runs.
    few_script = p(whole_script, bench, corpus=bench.few, docs=10, task="embed", model=minilm, runs=3)
    few_run = p(whole_run, bench, corpus=bench.few, docs=10, task="embed", model=MINILM, runs=3)
    # Adding a row is one line: more `nlpbatch run` options go in `extra`.
    plan: list[tuple[str, Callable[[str], WallResult]]] = [
        ("W1 transformers.pipeline script", script),
        ("W2 nlpbatch run fp32", p(run, precision="fp32")),
        ("W3 nlpbatch run int8, gate included", p(run, precision="int8")),
        ("W4 nlpbatch run int8, --backend openvino, gate included", p(run, precision="int8", extra=OPENVINO)),
        (
            f"W5 nlpbatch run int8, {bench.threads} processes x 1 thread",
            p(run, precision="int8", extra=spread),
        ),
        # auto: the first run on this machine measures both precisions and keeps its verdict;
        # the next (a nightly job's second night) reuses it and runs no gate.
        ("W6 nlpbatch run --precision auto, first run (measures)", p(run, precision="auto")),
        ("W7 nlpbatch run --precision auto, verdict kept", p(run, precision="auto")),
        ("C1 transformers.pipeline script, MiniLM", few_script),
        ("C2 nlpbatch run, MiniLM", p(few_run, precision="fp32")),
    ]
    out = []
    shutil.rmtree(bench.work / "home" / "verdicts", ignore_errors=True)  # W6 measures afresh
    for name, fn in plan:
        result = fn(name)
        print(f"{name}: {result.wall:.2f}s wall, {result.peak_rss_mb:.0f} MiB", flush=True)
        out.append(result)
    return out


if __name__ == "__main__":
    main()
