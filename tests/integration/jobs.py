"""Helpers for the failure tests: environments, corpora, CLI calls and output checks."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nlpbatch.broker import PROCESS_CHUNK, make_celery
from nlpbatch.jobstore import JobStore
from nlpbatch.outputs import open_output
from nlpbatch.outputs.records import read_records
from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from tests.helpers import nlpbatch_cmd


def job_env(broker_url: str, home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "NLPBATCH_BROKER_URL": broker_url,
        "NLPBATCH_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def cli(
    env: dict[str, str], *args: str, timeout: float = 180, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*nlpbatch_cmd(), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def make_corpus(path: Path, n: int) -> list[str]:
    """A JSONL corpus of `n` short reviews; returns their ids in order."""
    words = ["great movie", "bad battery", "it is ok", "i love it", "boring film", "fast and cheap"]
    ids = [f"doc{i:05d}" for i in range(n)]
    rows = [{"id": d, "text": f"{words[i % len(words)]} {i}"} for i, d in enumerate(ids)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return ids


def submit(env: dict[str, str], corpus: Path, model: Path, output: Path, *extra: str) -> str:
    """Submit a sentiment job and return its id."""
    args = ["submit", str(corpus), "-t", "sentiment", "-m", str(model), "-o", str(output), *extra]
    result = cli(env, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[0]


def queue_messages(
    broker_url: str,
    job_spec: Any,
    messages: list[ChunkMessage] | list[dict[str, Any]],
    total: int,
    countdown: float | None = None,
) -> str:
    """Queue `messages` (or their dict forms) as the chunks of a new job of `total` chunks.

    `countdown` sends them as a retry does: a worker holds them until that many seconds pass.
    Returns the job id.
    """
    settings = Settings(broker_url=broker_url)
    store = JobStore.from_url(broker_url)
    bodies = [m if isinstance(m, dict) else m.to_dict() for m in messages]
    job_id = bodies[0]["job_id"]
    store.create(job_id, job_spec.manifest(job_id))
    app = make_celery(settings)
    for body in bodies:
        app.send_task(PROCESS_CHUNK, args=[body], queue=settings.queue, countdown=countdown)
    store.set_total(job_id, total)
    return job_id


def assert_one_record_each(output: Path, ids: list[str]) -> list[dict]:
    """The output holds exactly one record per input document, in input order, none an error."""
    records = list(read_records(output))
    assert [r["id"] for r in records] == ids
    assert not [r for r in records if "error" in r]
    return records


def assert_job_completes(
    env: dict[str, str], job_id: str, output: Path, ids: list[str], timeout: int = 90
) -> None:
    """`wait` for the job: it must end done, with exactly one record per input document."""
    waited = cli(env, "wait", job_id, "--timeout", str(timeout))
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert_one_record_each(output, ids)


def parts_written(output: Path) -> int:
    return len(open_output(output).done_parts())


def wait_until(check: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met after {timeout}s")
        time.sleep(0.1)
