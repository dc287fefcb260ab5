"""With a real worker: kept input fields come back through `submit`, and the worker is counted online."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nlpbatch import Client
from nlpbatch.settings import Settings
from producer.joblist import workers_online
from tests.conftest import write_jsonl
from tests.helpers import start_worker, stop_process, wait_for_log

pytestmark = pytest.mark.integration


def test_a_submitted_job_keeps_input_fields_and_the_worker_answers_the_ping(
    broker_url: str, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    settings = Settings.from_env(broker_url=broker_url)
    assert workers_online(settings) == 0
    env = {**os.environ, "NLPBATCH_BROKER_URL": broker_url, "NLPBATCH_HOME": str(session_home)}
    log = tmp_path / "worker.log"
    proc = start_worker(env, log)
    try:
        wait_for_log(log, "ready.")
        # A worker on a loaded machine may answer its first pings later than the 1 s they wait.
        assert any(workers_online(settings) == 1 for _ in range(10))
        rows = [{"id": f"d{i}", "body": f"text {i}", "stars": i} for i in range(5)]
        source = write_jsonl(tmp_path / "in.jsonl", rows)
        job = Client(broker_url).submit(
            source,
            task="sentiment",
            model=str(tiny_bert),
            output=tmp_path / "out.parquet",
            chunk_size=2,
            keep_fields=["stars"],
            field_map={"text": "body"},
        )
        job.wait(timeout=120)
        records = list(job.results())
        assert [(r["id"], r["stars"]) for r in records] == [(r["id"], r["stars"]) for r in rows]
        assert all(r["label"] in {"POSITIVE", "NEGATIVE"} for r in records)
    finally:
        stop_process(proc)
