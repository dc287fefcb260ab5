"""A scheduled run whose job no worker takes gives up in time, marks nothing, and fails the job."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis

from nlpbatch.jobstore import JobState, JobStore
from nlpbatch.settings import Settings
from producer.processed import ProcessedStore
from producer.schedule import load_config, run_entry, state_path
from tests.conftest import write_jsonl

pytestmark = pytest.mark.integration


def test_a_scheduled_run_whose_job_no_worker_takes_fails_at_its_timeout_and_the_next_starts_cleanly(
    redis_url: str, tiny_bert: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(inbox / "a.jsonl", [{"id": "a1", "text": "good"}, {"id": "a2", "text": "bad"}])
    config = tmp_path / "schedule.toml"
    config.write_text(
        f'[[entry]]\nname = "e"\ncron = "0 2 * * *"\ninput = "{inbox}"\ntask = "sentiment"\n'
        f'model = "{tiny_bert}"\noutput = "{tmp_path}/out/e-{{date}}.jsonl"\ntimeout = 2\n'
    )
    entry = load_config(config).entries["e"]
    idle = redis_url.rsplit("/", 1)[0] + "/6"  # no worker listens on this database
    settings = Settings.from_env(broker_url=idle, home=tmp_path / "home")
    store = JobStore.from_url(idle)
    try:
        with caplog.at_level(logging.ERROR, logger="nlpbatch.schedule"):
            started = time.monotonic()
            first = run_entry(entry, settings, now=datetime(2026, 1, 1))
            assert time.monotonic() - started < 30
        assert first.state == "failed"
        status = store.status(str(first.job_id))
        assert status is not None and status.state is JobState.FAILED
        assert "gave up after waiting 2 s" in str(status.reason)
        assert f"job {first.job_id} scheduled run 'e' gave up" in caplog.text
        assert ProcessedStore(state_path(settings)).count() == 0
        assert list((settings.home / "schedule" / "staging").iterdir()) == []

        second = run_entry(entry, settings, now=datetime(2026, 1, 2))
        assert (second.new, second.already_done, second.state) == (2, 0, "failed")
        assert second.job_id != first.job_id
    finally:
        redis.Redis.from_url(idle).flushdb()
