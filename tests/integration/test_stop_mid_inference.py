"""A worker stopped in the middle of a chunk's model work, between two real batches: nothing lost or doubled.

The chunk of each test is 40 documents in batches of 4. The test hook lets the model's first
batch run for real and then holds the worker after it, so the stop lands with part of the
chunk through the model and the rest not (see tests/worker_hooks.py `paced_model`).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import RedisServer, start_worker, stop_process, wait_for_log
from tests.integration.jobs import assert_job_completes, job_env, make_corpus, submit

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path / "redis").start()
    yield srv
    srv.stop()


def start_job(env: dict[str, str], log: Path, model: Path, tmp_path: Path) -> tuple[str, Path, list[str]]:
    """Submit one 40-document chunk and wait until the worker is inside its model work."""
    ids = make_corpus(tmp_path / "corpus.jsonl", 40)
    out = tmp_path / "out.jsonl"
    wait_for_log(log, "ready.")
    job = submit(env, tmp_path / "corpus.jsonl", model, out, "--chunk-size", "40", "-p", "batch_size=4")
    wait_for_log(log, "model call 1 done")
    return job, out, ids


def test_a_worker_killed_between_two_model_batches_of_a_chunk_loses_no_document_and_doubles_none(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    env = job_env(server.url, session_home, NLPBATCH_VISIBILITY_TIMEOUT="4")
    logs = [tmp_path / "killed.log", tmp_path / "survivor.log"]
    killed = start_worker(env, logs[0], paced_model=60)
    survivor = None
    try:
        job, out, ids = start_job(env, logs[0], tiny_bert, tmp_path)
        stop_process(killed, signal.SIGKILL)  # mid-chunk, with nine batches still to run
        assert "model call 2 done" not in logs[0].read_text()
        survivor = start_worker(env, logs[1])
        assert_job_completes(env, job, out, ids)
        assert "succeeded" not in logs[0].read_text()
    finally:
        stop_process(killed, signal.SIGKILL)
        if survivor:
            stop_process(survivor)


def test_sigterm_in_the_middle_of_model_work_returns_the_chunk_and_the_next_worker_completes_it(
    server: RedisServer, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    # The default visibility timeout (an hour): the chunk can only come back because the
    # stopping worker returned it.
    env = job_env(server.url, session_home)
    logs = [tmp_path / "stopped.log", tmp_path / "next.log"]
    stopped = start_worker({**env, "NLPBATCH_SHUTDOWN_TIMEOUT": "2"}, logs[0], paced_model=60)
    following = None
    try:
        job, out, ids = start_job(env, logs[0], tiny_bert, tmp_path)
        os.kill(stopped.pid, signal.SIGTERM)
        assert stopped.wait(60) == 0  # a clean stop, for the supervisor
        assert "returning them to the queue" in logs[0].read_text()
        assert redis.Redis.from_url(server.url).llen("nlpbatch") == 1
        following = start_worker(env, logs[1])
        assert_job_completes(env, job, out, ids, timeout=60)
    finally:
        stop_process(stopped, signal.SIGKILL)
        if following:
            stop_process(following)
