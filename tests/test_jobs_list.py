"""`nlpbatch jobs`, `Client.jobs()` and `Job.cancel()`; jobs no worker took; rates after `resume`."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from nlpbatch import Client
from nlpbatch.jobstore import JobState, JobStatus, JobStore
from producer.cli import main
from producer.progress import rates


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_jobs_lists_recent_jobs_newest_first_and_cancel_stops_one(
    broker_url: str, corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    client = Client(broker_url)
    first = client.submit(corpus, task="sentiment", model=str(tiny_bert), output=tmp_path / "a.jsonl")
    time.sleep(0.01)
    second = client.submit(corpus, task="sentiment", model=str(tiny_bert), output=tmp_path / "b.jsonl")
    assert [s.job_id for s in client.jobs()] == [second.id, first.id]
    assert [s.job_id for s in client.jobs(limit=1)] == [second.id]

    code, stdout, _ = invoke("jobs", "--broker", broker_url, "--json")
    assert code == 0
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert [r["job_id"] for r in rows] == [second.id, first.id]
    assert rows[0]["state"] == "running" and rows[0]["chunks_total"] == 1
    assert rows[0]["output"] == str(tmp_path / "b.jsonl")
    code, stdout, _ = invoke("jobs", "--broker", broker_url)
    assert f"job {first.id}: running, 0/1 chunks" in stdout

    assert first.cancel() is JobState.RUNNING
    assert first.status().state is JobState.CANCELLED
    assert first.cancel() is JobState.CANCELLED  # an ended job is left as it was


def test_a_job_no_worker_took_says_so_with_the_workers_online(
    broker_url: str, corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    job = Client(broker_url).submit(
        corpus, task="sentiment", model=str(tiny_bert), output=tmp_path / "a.jsonl"
    )
    started = time.monotonic()
    code, stdout, _ = invoke("status", job.id, "--broker", broker_url)
    assert code == 0
    assert (
        f"no worker has taken job {job.id} yet (0 workers online; start one with `nlpbatch worker`)" in stdout
    )
    assert time.monotonic() - started < 10  # the ping is bounded
    code, stdout, _ = invoke("status", job.id, "--broker", broker_url, "--json")
    assert json.loads(stdout)["workers_online"] == 0
    code, _, stderr = invoke("wait", job.id, "--broker", broker_url, "--timeout", "0.5", "--no-progress")
    assert code == 1 and f"no worker has taken job {job.id} yet (0 workers online" in stderr


def test_after_resume_rate_and_eta_count_only_the_resumed_part(broker_url: str) -> None:
    store = JobStore.from_url(broker_url)
    store.restore("jr", {"output": "/tmp/x.jsonl"}, {0: (100, 0), 1: (100, 1), 2: (100, 0), 3: (100, 0)})
    restored = store.status("jr")
    assert restored is not None and restored.resumed_chunks == 4 and restored.resumed_docs == 400
    assert restored.resumed_at is not None
    # Ten chunks of 100; four were done before the resume, two more in the 20 s since.
    status = JobStatus(
        job_id="jr", state=JobState.RUNNING, chunks_total=10, chunks_done=6, docs_done=600, errors=1,
        manifest={}, created=0.0, updated=20.0, started=0.0, resumed_chunks=4, resumed_docs=400,
    )  # fmt: skip
    r = rates(status, now=20.0)
    assert r.docs_per_second == 200 / 20
    assert r.eta == 4 * 20 / 2
    fresh = rates(JobStatus(**{**status.__dict__, "resumed_chunks": 0, "resumed_docs": 0}), now=20.0)
    assert fresh.docs_per_second == 600 / 20 and fresh.eta == 4 * 20 / 6
