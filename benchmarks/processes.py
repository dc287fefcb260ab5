"""`nlpbatch run`: 1 process x all threads against N processes x fewer threads, interleaved.

    .venv/bin/python -m benchmarks.processes --work /tmp/procs --repeats 3

DistilBERT-base (random weights) sentiment over the benchmark corpus, fp32 and int8, each
configuration once per round, rounds interleaved so a shared machine's load falls on all of
them alike: read the ratios within a round. Prints one JSON line per run, then the ratios.
The int8 runs gate on 8 documents only, so almost every document is computed in the timed
loop; `docs_per_second` counts only those (the report's rates leave out the gate's records).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.corpus import build_distilbert, write_corpus
from nlpbatch.modelref import resolve
from worker.engine import available_cores

ROOT = Path(__file__).resolve().parents[1]


def run_once(work: Path, model: Path, corpus: Path, env: dict[str, str], **how: Any) -> dict[str, Any]:
    out = work / f"out-{how['precision']}-{how['processes']}.jsonl"
    args = [
        sys.executable, "-m", "producer", "run", str(corpus), "-t", "sentiment", "-m", str(model),
        "-o", str(out), "--chunk-size", str(how["chunk_size"]), "--precision", how["precision"],
        "--processes", str(how["processes"]), "--threads", str(how["threads"]), "--json", "--quiet",
        "--gate-docs", "8", "--gate-max-docs", "8", "--gate-threshold", "0",
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out.unlink()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", default="/tmp/nlpbatch-processes")
    parser.add_argument("--docs", type=int, default=240)
    parser.add_argument("--chunk-size", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    cores = available_cores()
    env = {
        **os.environ,
        "NLPBATCH_HOME": str(work / "home"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": str(ROOT),
    }
    corpus = write_corpus(work / "corpus.jsonl", args.docs)
    model = build_distilbert(
        work / "distilbert-base", vocab_from=resolve("sentence-transformers/all-MiniLM-L6-v2").path
    )
    configs = [(1, cores), (cores, 1)]
    for precision in ("fp32", "int8"):  # export and quantize once, outside the timings
        run_once(
            work,
            model,
            corpus,
            env,
            precision=precision,
            processes=1,
            threads=cores,
            chunk_size=args.chunk_size,
        )
    rates: dict[tuple[str, int], list[float]] = {}
    for round_ in range(args.repeats):
        for precision in ("fp32", "int8"):
            for processes, threads in configs if round_ % 2 == 0 else configs[::-1]:
                report = run_once(
                    work, model, corpus, env,
                    precision=precision, processes=processes, threads=threads, chunk_size=args.chunk_size,
                )  # fmt: skip
                rates.setdefault((precision, processes), []).append(report["docs_per_second"])
                keys = ("precision", "processes", "threads", "docs", "docs_per_second", "seconds",
                        "model_load_seconds", "peak_rss_mb", "gate_docs_reused")  # fmt: skip
                print(json.dumps({"round": round_, **{k: report[k] for k in keys}}), flush=True)
    for precision in ("fp32", "int8"):
        ratios = [b / a for a, b in zip(rates[precision, 1], rates[precision, cores], strict=True)]
        print(
            f"{precision}: {cores} x 1 / 1 x {cores} docs/s per round "
            f"{', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}"
        )


if __name__ == "__main__":
    main()
