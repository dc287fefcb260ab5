"""A full Redis: submit waits for room; a job whose state Redis evicts stops with a clear error."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from nlpbatch.jobstore import JobStore
from tests.helpers import RedisServer, nlpbatch_cmd, start_worker, stop_process, wait_for_log
from tests.integration.jobs import assert_one_record_each, cli, job_env, submit, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path / "redis").start()
    yield srv
    srv.stop()


def long_corpus(path: Path, n: int, chars: int) -> list[str]:
    """`n` documents of about `chars` characters each, so a few chunk messages fill a small Redis."""
    ids = [f"doc{i:05d}" for i in range(n)]
    text = ("great movie but the battery broke " * (chars // 34 + 1))[:chars]
    path.write_text("".join(json.dumps({"id": d, "text": f"{i} {text}"}) + "\n" for i, d in enumerate(ids)))
    return ids


def test_submit_waits_for_room_in_a_full_redis_and_the_job_completes(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(server.url, session_home)
    ids = long_corpus(tmp_path / "corpus.jsonl", 1000, 3000)  # 20 chunks of about 150 KB each
    out = tmp_path / "out.jsonl"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        wait_for_log(log, "ready.", timeout=120)
        r = redis.Redis.from_url(server.url)
        # Room for a handful of chunk messages, not for the 6 MB the job would queue at once.
        r.config_set("maxmemory", int(r.info("memory")["used_memory"]) + 4_000_000)
        r.config_set("maxmemory-policy", "noeviction")
        args = ["submit", str(tmp_path / "corpus.jsonl"), "-t", "sentiment", "-m", str(tiny_bert)]
        args += ["-o", str(out), "--chunk-size", "50", "--max-in-flight", "64", "--wait"]
        result = cli(env, *args, timeout=180)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        assert "Redis is full" in result.stderr, result.stderr[-4000:]
        assert "done, 20/20 chunks, 1000 documents, 0 errors" in result.stdout
        assert_one_record_each(out, ids)
        assert int(r.info("stats")["evicted_keys"]) == 0
    finally:
        stop_process(worker)


def test_a_job_whose_state_redis_evicts_stops_wait_with_an_error_naming_the_policy(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(server.url, session_home)
    long_corpus(tmp_path / "corpus.jsonl", 20, 50)
    out = tmp_path / "out.jsonl"
    r = redis.Redis.from_url(server.url)
    r.config_set("maxmemory-policy", "allkeys-random")
    job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out, "--chunk-size", "10")  # no worker takes it
    waiter = subprocess.Popen(
        [*nlpbatch_cmd(), "wait", job, "--timeout", "120"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # `wait` has seen the job once it reads the job's server mark, which it does right after
        # the job's state (the mark itself is written with the job, so its presence says nothing).
        mine = str(r.client_id())

        def watching() -> bool:
            return any(c["id"] != mine and c["cmd"] == "hget" for c in r.client_list())

        wait_until(watching, what="wait watching the job")
        # Fill Redis past a small maxmemory: it evicts keys at random until the job's is gone.
        r.config_set("maxmemory", int(r.info("memory")["used_memory"]) + 200_000)
        filler = 0
        while r.exists(JobStore.key(job)):
            r.set(f"filler:{filler}", "x" * 10_000)
            filler += 1
        stdout, stderr = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 1, stdout + stderr
    assert "its state is gone from Redis" in stderr and "maxmemory-policy allkeys-random" in stderr, stderr
    assert f"nlpbatch resume {job}" in stderr
    assert not out.exists()  # no output written from what was left
    r.config_set("maxmemory", 0)
    assert cli(env, "resume", job).returncode == 0  # the parts and manifest on disk carry it on
