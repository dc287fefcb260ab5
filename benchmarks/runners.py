"""The rows of `make bench`: each runs one variant in its own process and returns its Result.

A row is a function of (bench, name, part, ...options); the plan in bench.py binds the
options, so adding a row is one line there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.corpus import slice_corpus
from benchmarks.report import MODEL_TIME_GATE_DOCS
from benchmarks.results import Result
from nlpbatch.modelref import resolve
from tests.helpers import RedisServer, start_worker, stop_process, wait_for_log
from worker.pipelines.batching import CPU_MAX_BATCH_TOKENS, OPENVINO_MAX_BATCH_TOKENS

if TYPE_CHECKING:
    from benchmarks.bench import Bench

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def padded_in_order(lengths: list[int], batch_size: int) -> int:
    """Padded tokens when batches are taken in input order, as transformers.pipeline does."""
    return sum(
        max(lengths[i : i + batch_size]) * len(lengths[i : i + batch_size])
        for i in range(0, len(lengths), batch_size)
    )


#: A slice of the corpus: its own JSONL file, and where it starts in the corpus.
Part = tuple[Path, int]


def baseline(bench: Bench, name: str, part: Part, task: str, batch_size: int, onnx: bool) -> Result:
    corpus, first = part
    model = str(bench.distilbert) if task == "sentiment" else str(resolve(MINILM).path)
    args = ["pipeline", "--task", task, "--model", model, "--corpus", str(corpus)]
    args += ["--batch-size", str(batch_size), "--threads", str(bench.threads)]
    if onnx:
        args += ["--onnx", bench.onnx[task, "fp32"]]
    out = bench.python(*args)
    lengths = bench.lengths[task][first : first + out["docs"]]
    padded = padded_in_order(lengths, batch_size) if batch_size > 1 else sum(lengths)
    return Result(name, task, out["docs"], out["seconds"], sum(lengths), padded, out["peak_rss_mb"], lengths)


def gate_options(task: str, precision: str) -> list[str]:
    """`run`'s options for the int8 gate on the bench's classifier."""
    if precision in ("int8", "auto") and task == "sentiment":
        # Random weights leave labels near ties, so int8 flips some of them: the gate is run
        # and its figure reported, but not enforced, or the int8 variant would measure fp32.
        return ["--gate-threshold", "0"]
    return []


def run_variant(
    bench: Bench, name: str, part: Part, task: str, precision: str, extra: tuple[str, ...] = ()
) -> Result:
    """`nlpbatch run` with the bench's threads; `extra` are more of its options, e.g. ("--backend", "x")."""
    corpus, first = part
    model = str(bench.distilbert) if task == "sentiment" else MINILM
    out = bench.work / f"{name.replace(' ', '-')}.jsonl"
    args = ["run", str(corpus), "-t", task, "-m", model, "-o", str(out), "--json"]
    args += ["--threads", str(bench.threads), "--precision", precision]
    args += [*gate_options(task, precision), *extra]
    if precision == "int8":
        # The gate's documents are computed before the timed seconds and their records reused:
        # a fixed, small gate (a quarter of a small part) leaves the same documents timed in
        # every int8 row.
        with corpus.open(encoding="utf-8") as fh:
            gate = str(min(MODEL_TIME_GATE_DOCS, max(1, sum(1 for _ in fh) // 4)))
        args += ["--gate-docs", gate, "--gate-max-docs", gate]
    report = json.loads(bench.nlpbatch(*args).strip().splitlines()[-1])
    return from_report(name, task, report, bench.lengths[task][first : first + report["docs"]])


def from_report(name: str, task: str, report: dict[str, Any], lengths: list[int]) -> Result:
    """A Result of what the run computed within its timed seconds.

    Records the int8 gate had already computed (the first documents) are reused by `run`, not
    computed again, so they are left out of the documents, tokens and lengths here, as the
    report's own rates leave them out.
    """
    reused = int(report.get("gate_docs_reused") or 0)
    tokens = round(report["tokens_per_second"] * report["seconds"]) if reused else report["tokens"]
    padded = report["padded_tokens"]
    if reused:
        padded = round(tokens / (1 - report["padding_waste"])) if report["padding_waste"] < 1 else tokens
    return Result(
        name,
        task,
        report["docs"] - reused,
        report["seconds"],
        tokens,
        padded,
        report["peak_rss_mb"],
        lengths[reused:],
        precision=report["precision"],
        gate=report.get("gate"),
        processes=report["processes"],
        threads=report["threads"],
    )


def submit_variant(bench: Bench, name: str, part: Part, workers: list[int], chunk_size: int) -> Result:
    """A real Redis and real workers (one per entry, with that many threads), started here."""
    corpus, first = part
    redis = RedisServer(bench.work / f"redis-{len(workers)}").start()
    env = {**bench.env, "NLPBATCH_BROKER_URL": redis.url}
    logs = [bench.work / f"worker-{len(workers)}-{i}.log" for i in range(len(workers))]
    procs = [start_worker(env, log, concurrency=1, threads=t) for log, t in zip(logs, workers, strict=True)]
    saved, bench.env = bench.env, env
    try:
        for log in logs:
            wait_for_log(log, "ready.", timeout=120)
        warm = slice_corpus(bench.corpus, bench.work / "warm.jsonl", 0, 4 * len(workers))
        for _ in range(5):  # until every worker has loaded the model
            out = bench.work / "warm-out.jsonl"
            bench.nlpbatch("submit", str(warm), "-t", "sentiment", "-m", str(bench.distilbert),
                           "-o", str(out), "--chunk-size", "1", "--wait")  # fmt: skip
            if json.loads(Path(f"{out}.report.json").read_text())["processes"] == len(workers):
                break
        out = bench.work / f"{name.replace(' ', '-')}.jsonl"
        bench.nlpbatch("submit", str(corpus), "-t", "sentiment", "-m", str(bench.distilbert),
                       "-o", str(out), "--chunk-size", str(chunk_size), "--wait")  # fmt: skip
        report = json.loads(Path(f"{out}.report.json").read_text())
    finally:
        bench.env = saved
        for proc in procs:
            stop_process(proc)
        redis.stop()
    return from_report(name, "sentiment", report, bench.lengths["sentiment"][first : first + report["docs"]])


def anchor(bench: Bench, name: str, part: Part, engine: str, precision: str) -> Result:
    """An engine anchor (benchmarks/anchors.py) on `run`'s own batches, model time only."""
    corpus, first = part
    model = bench.anchor_model(engine, precision)
    args = [engine, "--model", model, "--head", str(bench.distilbert), "--corpus", str(corpus)]
    # OpenVINO gets the batches nlpbatch's OpenVINO backend forms (its own token budget, the
    # faster one for it); the other engines those of the default backend on a CPU.
    budget = OPENVINO_MAX_BATCH_TOKENS if engine == "openvino" else CPU_MAX_BATCH_TOKENS
    args += ["--max-batch-tokens", str(budget)]
    out = bench.python(*args, "--threads", str(bench.threads), module="benchmarks.anchors")
    lengths = bench.lengths["sentiment"][first : first + out["docs"]]
    return Result(name, "sentiment", out["docs"], out["seconds"], out["tokens"], out["padded_tokens"],
                  out["peak_rss_mb"], lengths, precision=precision, logits=out["logits"])  # fmt: skip
