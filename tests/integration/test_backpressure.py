"""Backpressure at scale: Redis memory stays bounded while workers drain a million documents."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis

from nlpbatch.outputs.records import read_records
from tests.helpers import RedisServer, start_worker, stop_process, wait_for_log
from tests.integration.jobs import cli, job_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCS = 1_000_000
CHUNK = 1000
IN_FLIGHT = 8
# Redis' own footprint (about 1 MiB) plus IN_FLIGHT chunk messages of about 60 kB each, queued
# or held unacknowledged, with a wide margin; the whole corpus queued at once would be ~60 MiB.
LIMIT_MIB = 16


def test_redis_memory_stays_bounded_while_workers_drain_a_million_documents(
    session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "million.jsonl"
    with corpus.open("w") as fh:
        for i in range(DOCS):
            fh.write(f'{{"id": "d{i}", "text": "short review number {i % 977} was ok"}}\n')
    server = RedisServer(tmp_path / "redis").start()
    env = job_env(server.url, session_home)
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [start_worker(env, log) for log in logs]
    r = redis.Redis.from_url(server.url)
    peak = {"used": 0, "queued": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["used"] = max(peak["used"], int(r.info("memory")["used_memory"]))
            peak["queued"] = max(peak["queued"], int(r.llen("nlpbatch")))
            time.sleep(0.1)

    try:
        for log in logs:
            wait_for_log(log, "ready.")
        baseline = int(r.info("memory")["used_memory"])
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        out = tmp_path / "out.jsonl"
        args = ["submit", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out)]
        args += ["--chunk-size", str(CHUNK), "--max-in-flight", str(IN_FLIGHT), "--wait"]
        result = cli(env, *args, timeout=3600)
        seconds = time.monotonic() - started
        done.set()
        sampler.join()
        assert result.returncode == 0, result.stdout + result.stderr
        assert sum(1 for _ in read_records(out)) == DOCS
        mib = peak["used"] / 2**20
        print(
            f"\n{DOCS} documents in {seconds:.0f}s ({DOCS / seconds:.0f} docs/s); Redis used_memory "
            f"baseline {baseline / 2**20:.2f} MiB, peak {mib:.2f} MiB (limit {LIMIT_MIB} MiB); "
            f"longest queue {peak['queued']} chunks"
        )
        assert mib < LIMIT_MIB
        assert peak["queued"] <= IN_FLIGHT
    finally:
        done.set()
        for proc in workers:
            stop_process(proc)
        server.stop()
