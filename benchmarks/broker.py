"""The broker's ceiling: what one Redis and Celery carry with 1, 2, 4 and 8 workers on this machine.

    .venv/bin/python benchmarks/broker.py [--docs 20000] [--chunk-size 100] [--workers 1,2,4,8]

The task is `tokenize` with a tiny tokenizer, so the model costs next to nothing and what is
measured is the path every chunk takes: queue, Celery, the worker, the part written (to a
dataset folder, so no merge), the chunk counted in Redis. It prints, as a Markdown table:

- Redis memory per chunk in flight: INFO used_memory before and after queuing K chunks with
  no worker running, divided by K;
- for each number of workers (`nlpbatch worker --concurrency 1 --threads 1`, started once,
  warmed by a job of 4 chunks per worker, and kept for the next, larger run): chunks/s and
  docs/s from `submit` to the job's end, and the Redis server's own CPU time per chunk
  (INFO used_cpu_user + used_cpu_sys), whose inverse is the chunk rate at which one Redis
  process would be busy all the time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from nlpbatch.jobs import new_job_id  # noqa: E402
from nlpbatch.settings import Settings  # noqa: E402
from producer.client import connect, send_chunks, submit_job, wait_job  # noqa: E402
from producer.job import prepare_job  # noqa: E402
from tests.helpers import RedisServer, build_tiny_classifier, start_worker, stop_process, wait_for_log  # noqa: E402

WORDS = "the product arrived late but the sound quality is very good and the price was fine".split()


def write_corpus(path: Path, docs: int) -> Path:
    """`docs` short reviews (8 to 16 words), deterministic."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(docs):
            words = [WORDS[(i * 7 + k) % len(WORDS)] for k in range(8 + i % 9)]
            fh.write(json.dumps({"id": f"d{i:08d}", "text": " ".join(words)}) + "\n")
    return path


def redis_cpu(info: dict[str, Any]) -> float:
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def memory_per_chunk(settings: Settings, job: Any, queued: int) -> dict[str, float]:
    """Redis bytes per chunk waiting in the queue, with no worker to take them."""
    store = connect(settings)
    job_id = new_job_id()
    store.create(job_id, job.manifest(job_id))
    before = int(store.r.info("memory")["used_memory"])
    sent = send_chunks(
        settings, store, job_id, islice(job.messages(job_id), queued), max_in_flight=queued + 1
    )
    after = int(store.r.info("memory")["used_memory"])
    store.r.flushdb()
    return {"chunks": sent, "bytes_per_chunk": (after - before) / sent, "docs_per_chunk": job.chunk_size}


def one_run(settings: Settings, job: Any, docs: int) -> dict[str, float]:
    """Submit the job, wait for its end; chunks/s, docs/s, and Redis CPU per chunk."""
    store = connect(settings)
    cpu0 = redis_cpu(store.r.info("cpu"))
    started = time.perf_counter()
    submission = submit_job(job, settings)
    queued = time.perf_counter() - started
    status = wait_job(settings, submission.job_id, poll=0.05, timeout=600)
    seconds = time.perf_counter() - started
    assert status.state.value == "done" and status.docs_done == docs, status.to_dict()
    cpu = redis_cpu(store.r.info("cpu")) - cpu0
    peak = int(store.r.info("memory")["used_memory_peak"])
    chunks = submission.chunks
    return {
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "submit_seconds": round(queued, 2),
        "chunks_per_s": round(chunks / seconds, 1),
        "docs_per_s": round(docs / seconds),
        "redis_cpu_ms_per_chunk": round(1000 * cpu / chunks, 3),
        "redis_peak_mib": round(peak / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--chunk-size", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--queued", type=int, default=200, help="chunks queued to measure memory")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build_tiny_classifier(work / "model")
        corpus = write_corpus(work / "corpus.jsonl", args.docs)
        redis = RedisServer(work / "redis").start()
        env = {
            **os.environ,
            "NLPBATCH_BROKER_URL": redis.url,
            "NLPBATCH_HOME": str(work / "home"),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        settings = dataclasses.replace(Settings.from_env(), broker_url=redis.url, home=work / "home")

        def job(output: str) -> Any:
            return prepare_job(
                task="tokenize",
                model=str(model),
                inputs=[str(corpus)],
                output=output,
                chunk_size=args.chunk_size,
            )

        workers: list[Any] = []
        rows: dict[int, dict[str, float]] = {}
        try:
            memory = memory_per_chunk(settings, job(f"{work}/memory/"), args.queued)
            for n in counts:
                logs = [work / f"worker{i}.log" for i in range(len(workers), n)]
                workers += [start_worker(env, log) for log in logs]
                for log in logs:
                    wait_for_log(log, "ready.", timeout=300)
                # Each new worker loads the tokenizer on its first chunk: not part of the figures.
                warm = prepare_job(
                    task="tokenize",
                    model=str(model),
                    inputs=[str(corpus)],
                    output=f"{work}/warm{n}/",
                    chunk_size=args.docs // (4 * n),
                )
                wait_job(settings, submit_job(warm, settings).job_id, poll=0.05, timeout=600)
                rows[n] = one_run(settings, job(f"{work}/out{n}/"), args.docs)
                print(f"{n} worker(s): {rows[n]}", file=sys.stderr, flush=True)
        finally:
            for proc in workers:
                stop_process(proc)
            redis.stop()

    machine = f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"Machine: {machine}; {args.docs} documents in chunks of {args.chunk_size}.\n")
    print(
        f"Redis memory per chunk in flight: {memory['bytes_per_chunk'] / 1024:.1f} KiB "
        f"({args.chunk_size} short documents; {memory['chunks']:.0f} chunks queued, no worker)\n"
    )
    print("| workers | chunks/s | docs/s | seconds | Redis CPU ms/chunk | Redis peak MiB |")
    print("|---|---|---|---|---|---|")
    for n, r in rows.items():
        print(
            f"| {n} | {r['chunks_per_s']} | {r['docs_per_s']} | {r['seconds']} | "
            f"{r['redis_cpu_ms_per_chunk']} | {r['redis_peak_mib']} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "memory": memory, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
