"""Jobs across the broker: the recent ones (`nlpbatch jobs`), and whether any worker is there to take one."""

from __future__ import annotations

from typing import Any

from nlpbatch import defaults
from nlpbatch.broker import make_celery
from nlpbatch.jobstate import JobState, JobStatus
from nlpbatch.settings import Settings
from producer.client import connect

#: Seconds `status` and `wait` give workers to answer a ping.
PING_TIMEOUT = 1.0


def list_jobs(settings: Settings, limit: int = 20) -> list[JobStatus]:
    """The `limit` most recently created jobs Redis knows, newest first."""
    store = connect(settings)
    prefix = defaults.JOB_KEY_PREFIX
    # SCAN, not KEYS: a broker holding many jobs is not blocked while they are listed.
    ids = {
        key[len(prefix) :]
        for key in (k.decode() if isinstance(k, bytes) else str(k) for k in store.r.scan_iter(f"{prefix}*"))
        if ":" not in key[len(prefix) :]  # a job's own hash, not its done set, workers or results
    }
    found = [s for s in (store.status(job_id) for job_id in ids) if s is not None]
    return sorted(found, key=lambda s: s.created, reverse=True)[:limit]


def workers_online(settings: Settings, timeout: float = PING_TIMEOUT) -> int:
    """How many workers answer a ping within `timeout` seconds (0 when none does)."""
    replies = make_celery(settings).control.inspect(timeout=timeout).ping()
    return len(replies or {})


def not_taken(status: JobStatus) -> bool:
    """True while a job waits for its first chunk to be taken by a worker."""
    return status.started is None and status.state in (JobState.QUEUING, JobState.RUNNING)


def waiting_note(status: JobStatus, workers: int) -> str:
    """The line `status` and `wait` print for a job that no worker has taken yet."""
    online = f"{workers} worker{'s' if workers != 1 else ''} online"
    hint = "; start one with `nlpbatch worker`" if workers == 0 else ""
    return f"no worker has taken job {status.job_id} yet ({online}{hint})"


def job_row(status: JobStatus) -> dict[str, Any]:
    """One job of `nlpbatch jobs --json`."""
    full = status.to_dict()
    keys = ("job_id", "state", "chunks_done", "chunks_total", "docs_done", "errors", "output", "created")
    return {key: full[key] for key in keys}
