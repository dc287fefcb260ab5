"""A job's state and progress snapshot: plain values, without the Redis client.

`nlpbatch run` and the commands that only print a status import these; the store that reads
and writes them in Redis is `nlpbatch.jobstore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class JobState(StrEnum):
    QUEUING = "queuing"  # the producer is still cutting and sending chunks
    RUNNING = "running"  # every chunk is queued; workers are on it
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def is_finished(self) -> bool:
        """True once the job has ended (done, cancelled or failed): it will not change again."""
        return self in (JobState.DONE, JobState.CANCELLED, JobState.FAILED)


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of one job's progress."""

    job_id: str
    state: JobState
    chunks_total: int | None
    chunks_done: int
    docs_done: int
    errors: int
    manifest: dict[str, Any]
    created: float
    updated: float
    # When a worker began the job's first chunk: None until then.
    started: float | None = None
    #: The job report, once the job is done (see nlpbatch.report).
    report: dict[str, Any] | None = None
    #: Why the job failed, when a worker could say.
    reason: str | None = None
    #: When `resume` queued the job again, and the chunks and documents done before that.
    resumed_at: float | None = None
    resumed_chunks: int = 0
    resumed_docs: int = 0

    @property
    def complete(self) -> bool:
        return self.chunks_total is not None and self.chunks_done >= self.chunks_total

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "state": self.state.value,
            "chunks_total": self.chunks_total,
            "chunks_done": self.chunks_done,
            "docs_done": self.docs_done,
            "errors": self.errors,
            "output": self.manifest.get("output"),
            "task": self.manifest.get("task"),
            "model": self.manifest.get("model"),
            "created": self.created,
            "updated": self.updated,
            "started": self.started,
            "report": self.report,
            "reason": self.reason,
            "resumed_at": self.resumed_at,
        }


# SADD and the counters in one step, so a chunk done twice is counted once.
