"""Runtime faults and full disks are retried; a chunk longer than the visibility timeout runs once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import RedisServer, start_worker, stop_process, wait_for_log
from tests.integration.jobs import assert_job_completes, job_env, make_corpus, submit, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path) -> RedisServer:
    srv = RedisServer(tmp_path / "redis").start()
    yield srv
    srv.stop()


def test_a_runtime_failing_whatever_the_input_is_retried_and_records_no_error(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(server.url, session_home)
    ids = make_corpus(tmp_path / "corpus.jsonl", 12)
    out = tmp_path / "out.jsonl"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, runtime_faults=5)
    try:
        wait_for_log(log, "ready.")
        job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out)
        assert_job_completes(env, job, out, ids)  # one record each, none an error
        retries = [line for line in log.read_text().splitlines() if "Retry in" in line]
        assert retries and all("RuntimeFault" in line for line in retries), retries
    finally:
        stop_process(worker)


def test_a_chunk_longer_than_the_visibility_timeout_is_run_once(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(server.url, session_home, NLPBATCH_VISIBILITY_TIMEOUT="3")
    ids = make_corpus(tmp_path / "corpus.jsonl", 5)
    out = tmp_path / "out.jsonl"
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    workers = [start_worker(env, log, chunk_delay=10) for log in logs]
    try:
        for log in logs:
            wait_for_log(log, "ready.")
        job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out)
        assert_job_completes(env, job, out, ids, timeout=60)
        started = sum(log.read_text().count(f"job {job} chunk 0: 5 documents") for log in logs)
        assert started == 1, [log.read_text()[-2000:] for log in logs]
    finally:
        for worker in workers:
            stop_process(worker)


def test_a_merge_that_hits_a_full_disk_is_retried_and_the_job_completes_once_there_is_space(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(server.url, session_home)
    ids = make_corpus(tmp_path / "corpus.jsonl", 8)
    out = tmp_path / "out.jsonl"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, full_disk_merges=2)
    try:
        wait_for_log(log, "ready.")
        job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out, "--chunk-size", "4")
        # Only the worker merges until then: `wait` would merge in its own process.
        wait_until(lambda: log.read_text().count("Retry in") >= 2, 90, "two retries of the merge")
        assert_job_completes(env, job, out, ids)
        retries = [line for line in log.read_text().splitlines() if "Retry in" in line]
        assert len(retries) >= 2 and all("StorageError" in line for line in retries), retries
        assert "No space left on device" in retries[0]
    finally:
        stop_process(worker)
