"""Which server a job is on: a promoted replica that lost the job's server mark is still a failover."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nlpbatch.jobstore import JobStore
from nlpbatch.settings import Settings
from producer import failover
from producer.failover import FailoverWatch, server_id


def test_a_server_that_lost_the_jobs_mark_is_repaired_not_adopted(
    broker_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The replica a failover promotes may hold the job but not its server mark (replication is
    asynchronous). A producer that saw the job on another server must check it against its parts,
    not take the empty mark for a job it has never seen."""
    store = JobStore.from_url(broker_url)
    store.create("jf", {"output": str(tmp_path / "out.jsonl")})
    watch = FailoverWatch(Settings(broker_url=broker_url), store, "jf")
    assert watch.check() is not None  # the first check looks at once and notes the server
    assert store.r.hget(store.key("jf"), "server") == server_id(store)

    store.r.hdel(store.key("jf"), "server")  # what the promoted replica holds
    monkeypatch.setattr(failover, "server_id", lambda _store: "promoted-replica")
    with caplog.at_level(logging.WARNING, logger="nlpbatch.producer"):
        watch.check(force=True)
    assert "Redis is another server now" in caplog.text
    assert "0 vanished chunk(s) queued again" in caplog.text
    assert store.r.hget(store.key("jf"), "server") == "promoted-replica"


def test_a_submitted_job_has_its_server_mark_from_its_first_write(
    broker_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mark is written with the job, in one command: a replica that has the job has the mark,
    however soon after the submit the primary dies."""
    from producer.client import submit_job
    from producer.job import JobSpec

    (tmp_path / "docs.txt").write_text("one\ntwo\n")
    job = JobSpec(task="sentiment", model="some/model", inputs=(str(tmp_path / "docs.txt"),),
                  output=str(tmp_path / "out.jsonl"))  # fmt: skip
    marks: list[str | None] = []
    real_create = JobStore.create

    def create(self: JobStore, job_id: str, manifest: dict, **kw: str) -> None:
        real_create(self, job_id, manifest, **kw)
        marks.append(self.r.hget(self.key(job_id), "server"))

    monkeypatch.setattr(JobStore, "create", create)
    settings = Settings(broker_url=broker_url, home=tmp_path / "home")
    submit_job(job, settings)
    assert marks == [server_id(JobStore.from_url(broker_url))]
