"""Rates, ETA and progress bars from a job's status; log lines as JSON with passwords masked."""

from __future__ import annotations

import io
import json
import logging

from nlpbatch.jobstore import JobState, JobStatus
from nlpbatch.logs import JsonFormatter, RedactingFormatter, redact
from producer.progress import LiveProgress, print_status, rates, status_dict


def job(state: JobState = JobState.RUNNING, **counts: object) -> JobStatus:
    values: dict = {"chunks_total": 10, "chunks_done": 4, "docs_done": 1000, "errors": 3}
    values.update(counts)
    return JobStatus(
        job_id="j1",
        state=state,
        manifest={"output": "/out/x.jsonl"},
        created=100.0,
        updated=150.0,
        started=110.0,
        **values,
    )


def test_a_running_job_reports_its_rate_and_the_time_left_at_the_pace_so_far() -> None:
    r = rates(job(), now=160.0)
    assert r.elapsed == 50.0
    assert r.docs_per_second == 20.0
    assert r.eta == 75.0  # 6 chunks left at 12.5 s per chunk


def test_a_finished_job_stops_its_clock_at_its_last_update() -> None:
    r = rates(job(JobState.DONE, chunks_done=10, docs_done=2500), now=9999.0)
    assert r.elapsed == 40.0 and r.docs_per_second == 62.5 and r.eta == 0.0


def test_rate_and_eta_are_unknown_before_work_starts_or_while_the_total_is_unknown() -> None:
    fresh = JobStatus("j", JobState.QUEUING, None, 0, 0, 0, {}, 100.0, 100.0)
    assert rates(fresh, now=200.0).eta is None and rates(fresh, now=200.0).docs_per_second is None
    queuing = job(JobState.QUEUING, chunks_total=None)
    assert rates(queuing, now=160.0).eta is None and rates(queuing, now=160.0).docs_per_second == 20.0


def test_status_json_carries_the_counts_with_rate_and_eta() -> None:
    data = status_dict(job(), now=160.0)
    assert data["chunks_done"] == 4 and data["chunks_total"] == 10 and data["errors"] == 3
    assert data["docs_per_second"] == 20.0 and data["eta_seconds"] == 75.0 and data["started"] == 110.0
    json.dumps(data)


def test_status_prints_a_bar_with_chunks_rate_eta_and_errors() -> None:
    out = io.StringIO()
    print_status(job(), out, now=160.0)
    text = out.getvalue()
    assert "job j1 running" in text and "4/10 chunks" in text
    assert "1,000 documents" in text and "20.0 docs/s" in text and "ETA 0:01:15" in text
    assert "3 errors" in text and "/out/x.jsonl" in text
    assert "━" in text  # the bar itself


def test_the_live_bar_follows_each_new_status() -> None:
    out = io.StringIO()
    live = LiveProgress(out)
    live(job(chunks_done=1, docs_done=250))
    live(job(JobState.DONE, chunks_done=10, docs_done=2500))
    live.close()
    assert "10/10 chunks" in out.getvalue() and "2,500 documents" in out.getvalue()


def test_passwords_in_urls_are_masked_and_other_text_is_kept() -> None:
    line = "retrying redis://user:s3cret@host:6379/0 and amqp://:pw@mq/ vhost; http://example.com:80/a"
    assert redact(line) == (
        "retrying redis://user:***@host:6379/0 and amqp://:***@mq/ vhost; http://example.com:80/a"
    )


def test_a_json_log_line_holds_the_message_extra_fields_and_no_password() -> None:
    record = logging.makeLogRecord(
        {
            "name": "nlpbatch.x",
            "levelno": 30,
            "levelname": "WARNING",
            "msg": "lost %s",
            "args": ("redis://:pw@h/0",),
        }
    )
    record.job_id = "j1"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "WARNING" and entry["logger"] == "nlpbatch.x" and entry["job_id"] == "j1"
    assert entry["message"] == "lost redis://:***@h/0"
    assert "pw@" not in RedactingFormatter("%(message)s").format(record)
