"""Many short documents through `submit` into a dataset folder, with Redis memory and worker RSS sampled.

    .venv/bin/python benchmarks/many_docs.py [--docs 300000] [--chunk-size 1000] [--workers 2]

A `tokenize` job (tiny tokenizer, no model) of `--docs` short documents is submitted to
`--workers` worker processes on a private Redis and written as a Parquet dataset (no merge).
Every second it samples Redis's used_memory and the resident memory of every worker process;
flat samples are the point: the broker holds at most `--max-in-flight` chunks and a worker
holds one chunk. The end-to-end time is then split by measuring each step on its own, in
this process, over the same documents: read (corpus to chunk messages), queue (the
producer's own CPU time while submitting, which includes its waits on the in-flight bound
only as wall time), compute (the tokenize pipeline on every chunk) and write (each chunk's
Parquet part).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.broker import write_corpus  # noqa: E402
from nlpbatch.outputs import open_output  # noqa: E402
from nlpbatch.settings import Settings  # noqa: E402
from producer.client import connect, submit_job, wait_job  # noqa: E402
from producer.job import prepare_job  # noqa: E402
from tests.helpers import RedisServer, build_tiny_classifier, start_worker, stop_process, wait_for_log  # noqa: E402


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except FileNotFoundError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return total / 1024


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


class Sampler(threading.Thread):
    """Samples Redis used_memory and each worker's RSS every `every` seconds until stopped."""

    def __init__(self, client: Any, pids: list[int], every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.client, self.pids, self.every = client, pids, every
        self.redis_mib: list[float] = []
        self.worker_mib: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.redis_mib.append(int(self.client.info("memory")["used_memory"]) / 2**20)
            self.worker_mib.append(max(tree_rss_mib(p) for p in self.pids))


def spread(samples: list[float]) -> str:
    """first / median / max / last of the samples, to show they stay flat."""
    if not samples:
        return "no samples"
    figures = (samples[0], statistics.median(samples), max(samples), samples[-1])
    return " / ".join(f"{v:.1f}" for v in figures)


def split_time(job: Any, folder: Path) -> dict[str, float]:
    """Seconds for each step over the whole job, each measured on its own in this process."""
    from nlpbatch.settings import Settings
    from worker.engine import Engine

    engine = Engine.from_settings(Settings.from_env())
    engine.runtime(job.task, job.model, job.precision, job.params)  # loaded before the clock starts
    read = compute = write = 0.0
    output = open_output(f"{folder}/").with_task(job.spec)  # type: ignore[attr-defined]
    messages = job.messages("split")
    while True:
        t0 = time.perf_counter()
        msg = next(messages, None)  # reading and chunking happen as the stream is drawn
        t1 = time.perf_counter()
        if msg is None:
            break
        records = engine.run_chunk(msg).records
        t2 = time.perf_counter()
        output.write_part(msg.index, records)
        read += t1 - t0
        compute += t2 - t1
        write += time.perf_counter() - t2
    return {"read": read, "compute": compute, "write": write}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=300_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-in-flight", type=int, default=16)
    parser.add_argument("--no-split", action="store_true", help="skip the time-by-step pass")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build_tiny_classifier(work / "model")
        corpus = write_corpus(work / "corpus.jsonl", args.docs)
        redis = RedisServer(work / "redis").start()
        env = {**os.environ, "NLPBATCH_BROKER_URL": redis.url, "NLPBATCH_HOME": str(work / "home")}
        env |= {"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        settings = dataclasses.replace(Settings.from_env(), broker_url=redis.url, home=work / "home")
        job = prepare_job(
            task="tokenize",
            model=str(model),
            inputs=[str(corpus)],
            output=f"{work}/out/",
            chunk_size=args.chunk_size,
        )
        logs = [work / f"worker{i}.log" for i in range(args.workers)]
        workers = [start_worker(env, log) for log in logs]
        try:
            for log in logs:
                wait_for_log(log, "ready.", timeout=300)
            sampler = Sampler(connect(settings).r, [w.pid for w in workers])
            sampler.start()
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            submission = submit_job(job, settings, max_in_flight=args.max_in_flight)
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            status = wait_job(settings, submission.job_id, poll=0.2)
            seconds = time.perf_counter() - started
            sampler.done.set()
            sampler.join()
            assert status.state.value == "done" and status.docs_done == args.docs, status.to_dict()
            parts = len(list((work / "out").glob("part-*.parquet")))
        finally:
            for proc in workers:
                stop_process(proc)
            redis.stop()
        steps = None if args.no_split else split_time(job, work / "split")
    queue = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    print(
        f"{args.docs} documents, chunks of {args.chunk_size}, {args.workers} workers, {os.cpu_count()} cores"
    )
    print(f"end to end: {seconds:.1f} s, {args.docs / seconds:.0f} docs/s, {parts} parts")
    print(f"Redis used_memory MiB (first / median / max / last): {spread(sampler.redis_mib)}")
    print(f"largest worker RSS MiB (first / median / max / last): {spread(sampler.worker_mib)}")
    if steps is None:
        return
    print(
        f"time by step (one process, same documents): read {steps['read']:.1f} s, "
        f"queue {queue:.1f} s (producer CPU), compute {steps['compute']:.1f} s, write {steps['write']:.1f} s"
    )


if __name__ == "__main__":
    main()
