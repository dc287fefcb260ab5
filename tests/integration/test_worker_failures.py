"""Killed workers, stopped workers, restarted Redis, cancel and resume: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from nlpbatch.jobs import new_job_id
from producer.job import prepare_job
from tests.helpers import RedisServer, nlpbatch_cmd, start_worker, stop_process, wait_for_log
from tests.integration.jobs import (
    assert_job_completes,
    assert_one_record_each,
    cli,
    job_env,
    make_corpus,
    parts_written,
    queue_messages,
    submit,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path) -> RedisServer:
    """A private Redis for one test, which the test may stop and restart on the same port."""
    srv = RedisServer(tmp_path / "redis").start()
    yield srv
    srv.stop()


@pytest.fixture
def aof_server(tmp_path: Path) -> RedisServer:
    """`server`, with AOF persistence: the queue and job state survive its restarts."""
    srv = RedisServer(tmp_path / "redis", appendonly=True).start()
    yield srv
    srv.stop()


def assert_back_in_queue_and_done_by_the_next_worker(
    server: RedisServer, env: dict[str, str], log: Path, job_id: str, out: Path, ids: list[str]
) -> None:
    """The one chunk of `job_id` waits in the Redis list, and a new worker completes the job."""
    assert redis.Redis.from_url(server.url).llen("nlpbatch") == 1
    following = start_worker(env, log)
    try:
        assert_job_completes(env, job_id, out, ids, timeout=60)
    finally:
        stop_process(following)


def test_a_worker_killed_mid_chunk_loses_no_document_and_doubles_none(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(server.url, session_home, NLPBATCH_VISIBILITY_TIMEOUT="4")
    ids = make_corpus(tmp_path / "corpus.jsonl", 30)
    out = tmp_path / "out.jsonl"
    logs = [tmp_path / "killed.log", tmp_path / "survivor.log"]
    killed = start_worker(env, logs[0], chunk_delay=120)
    survivor = None
    try:
        wait_for_log(logs[0], "ready.")
        job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out, "--chunk-size", "10")
        wait_for_log(logs[0], "received")
        stop_process(killed, signal.SIGKILL)  # the whole process group, mid-chunk
        survivor = start_worker(env, logs[1])
        assert_job_completes(env, job, out, ids)
        # The killed worker finished nothing; chunk 0, which it held, was redelivered to the survivor.
        assert "succeeded" not in logs[0].read_text()
        assert "'index': 0, 'docs': 10" in logs[1].read_text()
    finally:
        stop_process(killed, signal.SIGKILL)
        if survivor:
            stop_process(survivor)


def test_sigterm_lets_a_worker_finish_its_chunk_before_it_exits(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(server.url, session_home)
    ids = make_corpus(tmp_path / "corpus.jsonl", 10)
    out = tmp_path / "out.jsonl"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, chunk_delay=3)
    try:
        wait_for_log(log, "ready.")
        job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out, "--chunk-size", "10")
        wait_for_log(log, "received")
        os.kill(worker.pid, signal.SIGTERM)  # what systemd or Kubernetes sends first
        assert worker.wait(60) == 0
    finally:
        stop_process(worker, signal.SIGKILL)
    assert_job_completes(env, job, out, ids, timeout=5)


def test_sigterm_returns_a_chunk_that_outlasts_the_shutdown_timeout_to_the_queue_at_once(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    # The default visibility timeout (an hour): the chunk can only come back because the
    # stopping worker returned it.
    env = job_env(server.url, session_home)
    ids = make_corpus(tmp_path / "corpus.jsonl", 10)
    out = tmp_path / "out.jsonl"
    logs = [tmp_path / "stopped.log", tmp_path / "next.log"]
    stopped = start_worker({**env, "NLPBATCH_SHUTDOWN_TIMEOUT": "2"}, logs[0], chunk_delay=300)
    try:
        wait_for_log(logs[0], "ready.")
        job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out, "--chunk-size", "10")
        wait_for_log(logs[0], "received")
        os.kill(stopped.pid, signal.SIGTERM)
        assert stopped.wait(60) == 0  # a clean stop, for the supervisor
    finally:
        stop_process(stopped, signal.SIGKILL)
    assert "returning them to the queue" in logs[0].read_text()
    assert_back_in_queue_and_done_by_the_next_worker(server, env, logs[1], job, out, ids)


def test_sigterm_puts_back_a_chunk_the_worker_holds_for_a_later_retry(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    """A retried chunk waits out its backoff on the worker that received it, unacknowledged."""
    env = job_env(server.url, session_home)
    ids = make_corpus(tmp_path / "corpus.jsonl", 10)
    out = tmp_path / "out.jsonl"
    job = prepare_job(
        task="sentiment",
        model=str(tiny_bert),
        inputs=[str(tmp_path / "corpus.jsonl")],
        output=str(out),
    )
    logs = [tmp_path / "stopped.log", tmp_path / "next.log"]
    stopped = start_worker(env, logs[0])
    try:
        wait_for_log(logs[0], "ready.")
        job_id = queue_messages(server.url, job, list(job.messages(new_job_id())), 1, countdown=12)
        wait_for_log(logs[0], "received")
        os.kill(stopped.pid, signal.SIGTERM)
        assert stopped.wait(10) == 0  # long before the chunk was due: it never ran here
    finally:
        stop_process(stopped, signal.SIGKILL)
    assert "succeeded" not in logs[0].read_text()
    assert_back_in_queue_and_done_by_the_next_worker(server, env, logs[1], job_id, out, ids)


def test_resume_after_redis_lost_all_state_queues_only_the_missing_chunks(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(server.url, session_home)
    ids = make_corpus(tmp_path / "corpus.jsonl", 60)
    out = tmp_path / "out.jsonl"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, chunk_delay=0.5)
    try:
        wait_for_log(log, "ready.")
        job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out, "--chunk-size", "10")
        wait_until(lambda: parts_written(out) >= 2, what="two chunks written")
        server.stop(signal.SIGKILL)  # no persistence: the queue and the job's state are gone
        server.start()
        assert not redis.Redis.from_url(server.url).exists(f"nlpbatch:job:{job}")
        resumed = cli(env, "resume", job)
        assert resumed.returncode == 0, resumed.stderr
        assert "rebuilt from its manifest and parts" in resumed.stdout
        queued = int(resumed.stdout.split("queued ")[1].split()[0])
        assert 0 < queued <= 4, resumed.stdout
        # The same worker, reconnected by itself, does the rest.
        waited = cli(env, "wait", job, "--timeout", "90")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert "60 documents" in waited.stdout
        assert_one_record_each(out, ids)
    finally:
        stop_process(worker)


def test_a_job_survives_a_restart_of_redis_with_aof_and_the_waiting_producer_reconnects(
    aof_server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(aof_server.url, session_home, NLPBATCH_VISIBILITY_TIMEOUT="5")
    ids = make_corpus(tmp_path / "corpus.jsonl", 60)
    out = tmp_path / "out.jsonl"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, chunk_delay=0.5)
    waiter = None
    try:
        wait_for_log(log, "ready.")
        job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out, "--chunk-size", "10")
        waiter = subprocess.Popen(
            [*nlpbatch_cmd(), "wait", job, "--timeout", "120"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_until(lambda: parts_written(out) >= 2, what="two chunks written")
        aof_server.stop()
        aof_server.start()
        stdout, _ = waiter.communicate(timeout=150)
        assert waiter.returncode == 0, stdout
        assert "done, 6/6 chunks, 60 documents, 0 errors" in stdout
        assert_one_record_each(out, ids)
    finally:
        if waiter and waiter.poll() is None:
            waiter.kill()
        stop_process(worker)


def test_a_chunk_that_loses_redis_midway_waits_with_backoff_and_completes_once_it_is_back(
    aof_server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(aof_server.url, session_home)
    ids = make_corpus(tmp_path / "corpus.jsonl", 10)
    out = tmp_path / "out.jsonl"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, chunk_delay=2)
    try:
        wait_for_log(log, "ready.")
        job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out, "--chunk-size", "10")
        wait_for_log(log, "chunk 0: 10 documents")  # the chunk has started: it read the job's state
        aof_server.stop()
        time.sleep(8)  # the chunk wakes up to a Redis that is gone, and cannot count itself
        aof_server.start()
        assert_job_completes(env, job, out, ids)
        # The chunk kept its work and waited for Redis, trying again with growing pauses.
        waits = [line for line in log.read_text().splitlines() if "Redis unreachable" in line]
        assert len(waits) >= 2, log.read_text()[-3000:]
        # Celery logs the task's success just after its part is written: wait for the line.
        wait_for_log(log, "succeeded", timeout=30)
    finally:
        stop_process(worker)


def test_a_chunk_that_cannot_reach_redis_or_schedule_its_retry_is_not_dropped(
    aof_server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    """Redis stays away longer than a chunk waits, so not even the retry can be sent.

    Celery drops a message whose retry it cannot send; the chunk must come back instead.
    """
    env = job_env(aof_server.url, session_home, NLPBATCH_VISIBILITY_TIMEOUT="5", NLPBATCH_REDIS_PATIENCE="1")
    ids = make_corpus(tmp_path / "corpus.jsonl", 10)
    out = tmp_path / "out.jsonl"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, chunk_delay=2)
    try:
        wait_for_log(log, "ready.")
        job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out, "--chunk-size", "10")
        wait_for_log(log, "chunk 0: 10 documents")
        aof_server.stop()
        wait_for_log(log, "cannot schedule a retry", timeout=120)
        aof_server.start()
        assert_job_completes(env, job, out, ids)
    finally:
        stop_process(worker)


def test_a_chunk_whose_results_cannot_be_written_is_retried_until_the_storage_is_back(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(server.url, session_home)
    ids = make_corpus(tmp_path / "corpus.jsonl", 10)
    mount = tmp_path / "mount"
    mount.mkdir()
    out = mount / "out.jsonl"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, chunk_delay=1)
    try:
        wait_for_log(log, "ready.")
        job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out, "--chunk-size", "10")
        wait_for_log(log, "received")
        mount.rename(tmp_path / "unmounted")  # the share goes away, leaving a file in its place
        mount.write_text("not a folder\n")
        wait_until(lambda: log.read_text().count("Retry in") >= 2, 60, "two retries")
        mount.unlink()
        (tmp_path / "unmounted").rename(mount)
        assert_job_completes(env, job, out, ids)
        retries = [line for line in log.read_text().splitlines() if "Retry in" in line]
        assert all("StorageError" in line for line in retries), retries
    finally:
        stop_process(worker)


def test_cancel_stops_the_remaining_chunks_and_writes_no_output_until_resumed(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(server.url, session_home)
    ids = make_corpus(tmp_path / "corpus.jsonl", 30)
    out = tmp_path / "out.jsonl"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, chunk_delay=1)
    try:
        wait_for_log(log, "ready.")
        job = submit(env, tmp_path / "corpus.jsonl", tiny_bert, out, "--chunk-size", "5")
        wait_until(lambda: parts_written(out) >= 1, what="a chunk written")
        cancelled = cli(env, "cancel", job)
        assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout, cancelled.stderr
        waited = cli(env, "wait", job, "--timeout", "10")
        assert waited.returncode == 1 and "cancelled" in waited.stdout
        r = redis.Redis.from_url(server.url)
        wait_until(lambda: r.llen("nlpbatch") == 0 and not r.hlen("unacked"), what="queue drained")
        assert parts_written(out) < 6
        assert not out.exists()
        assert "incomplete" in (Path(f"{out}.parts") / "CANCELLED").read_text()

        resumed = cli(env, "resume", job)
        assert resumed.returncode == 0, resumed.stderr
        assert_job_completes(env, job, out, ids, timeout=60)
    finally:
        stop_process(worker)
