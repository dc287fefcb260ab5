"""Job state in Redis: the manifest, which chunks are done, counts, and the job's state.

The results themselves live in files (see `nlpbatch.outputs`); Redis only tracks progress.
Marking a chunk done is idempotent: a chunk processed twice (redelivery, retry, resume)
counts once.
"""

from __future__ import annotations

import json
import time
from typing import Any, cast

import redis

from nlpbatch import defaults, redisurl
from nlpbatch.jobstate import JobState, JobStatus

PREFIX = defaults.JOB_KEY_PREFIX
FINISHED_TTL = defaults.FINISHED_JOB_TTL


_MARK_DONE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1, 0, ''}
end
local added = redis.call('SADD', KEYS[2], ARGV[1])
if added == 1 then
  redis.call('HINCRBY', KEYS[1], 'docs', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'errors', ARGV[3])
  redis.call('HSET', KEYS[1], 'updated', ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[5])
  redis.call('HINCRBY', KEYS[1], 'padded_tokens', ARGV[6])
  redis.call('HINCRBY', KEYS[1], 'passages', ARGV[7])
end
return {added, redis.call('SCARD', KEYS[2]), redis.call('HGET', KEYS[1], 'total') or ''}
"""


# Only for a job Redis still knows: HSETNX alone would recreate a lost job's hash.
_MARK_STARTED = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSETNX', KEYS[1], 'started', ARGV[1])
end
return 0
"""


# The total, and RUNNING unless a `cancel` came while the producer was still queuing.
_SET_TOTAL = """
redis.call('HSET', KEYS[1], 'total', ARGV[1])
local state = redis.call('HGET', KEYS[1], 'state')
for i = 3, #ARGV do
  if state == ARGV[i] then return 1 end
end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
return 1
"""


# SET NX, or extend the lock its owner already holds.
_LOCK = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
"""


class JobStore:
    """Reads and writes job state under `nlpbatch:job:*` keys."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._mark = client.register_script(_MARK_DONE)
        self._start = client.register_script(_MARK_STARTED)
        self._set_total = client.register_script(_SET_TOTAL)
        self._lock = client.register_script(_LOCK)
        self._unlock = client.register_script(_UNLOCK)

    @classmethod
    def from_url(cls, url: str) -> JobStore:
        """A store on `url`: `redis://`, `rediss://` or `redis+sentinel://` (the primary of the day)."""
        return cls(redisurl.client(url, decode_responses=True, health_check_interval=30))

    @staticmethod
    def key(job_id: str) -> str:
        return PREFIX + job_id

    def create(self, job_id: str, manifest: dict[str, Any], *, server: str | None = None) -> None:
        """A new job, queuing. `server` is the run id of the Redis server it is created on: written
        in the same command as the job, so a replica that holds the job knows where it began."""
        now = str(time.time())
        self.r.hset(
            self.key(job_id),
            mapping={
                "manifest": json.dumps(manifest),
                "state": JobState.QUEUING.value,
                "docs": 0,
                "errors": 0,
                "created": now,
                "updated": now,
                **({"server": server} if server else {}),
            },
        )

    def set_manifest(self, job_id: str, manifest: dict[str, Any]) -> None:
        """Replace the job's manifest (the producer adds what it learns while queuing)."""
        self.r.hset(self.key(job_id), "manifest", json.dumps(manifest))

    def set_total(self, job_id: str, chunks: int) -> None:
        """Record that all `chunks` are queued; the job is now running, unless cancelled meanwhile
        or failed by a worker that refused one of its chunks while the rest were being queued."""
        kept = [JobState.CANCELLED.value, JobState.FAILED.value]
        self._set_total(keys=[self.key(job_id)], args=[chunks, JobState.RUNNING.value, *kept])

    def restore(
        self, job_id: str, manifest: dict[str, Any], done: dict[int, tuple[int, int]], passages: int = 0
    ) -> None:
        """Recreate a job's state from its manifest and the chunks whose parts exist.

        `done` maps chunk index -> (documents, errors), read back from the part files, so
        counts after a resume are those of the records really written; `passages`, the
        passage records in those parts (an `embed` job with `passages`).
        """
        key = self.key(job_id)
        pipe = self.r.pipeline()
        pipe.delete(key, key + ":done")
        pipe.hset(
            key,
            mapping={
                "manifest": json.dumps(manifest),
                "state": JobState.QUEUING.value,
                "docs": sum(d for d, _ in done.values()),
                "errors": sum(e for _, e in done.values()),
                "created": str(manifest.get("created", time.time())),
                "updated": str(time.time()),
                "resumed_at": str(time.time()),
                "resumed_chunks": len(done),
                "resumed_docs": sum(d for d, _ in done.values()),
                "passages": passages,
            },
        )
        if done:
            pipe.sadd(key + ":done", *done)
        pipe.persist(key)
        pipe.execute()

    def set_state(self, job_id: str, state: JobState, reason: str | None = None) -> None:
        if reason:
            self.r.hset(self.key(job_id), "reason", reason[:2000])
        self.r.hset(self.key(job_id), mapping={"state": state.value, "updated": str(time.time())})
        if state.is_finished:
            self.r.expire(self.key(job_id), FINISHED_TTL)
            self.r.expire(self.key(job_id) + ":done", FINISHED_TTL)

    def mark_started(self, job_id: str) -> None:
        """Record when work on the job began (the first call wins), for its rate and ETA."""
        self._start(keys=[self.key(job_id)], args=[str(time.time())])

    def mark_done(
        self,
        job_id: str,
        index: int,
        docs: int,
        errors: int,
        tokens: int = 0,
        padded_tokens: int = 0,
        passages: int = 0,
    ) -> tuple[bool, int, int | None]:
        """Count chunk `index` as done: (newly counted, chunks done, chunks total or None).

        `passages`: the chunk's passage records, for an `embed` job with `passages`.

        A job that Redis no longer knows (state lost) is left alone: the part file on disk
        is the record, and `nlpbatch resume` rebuilds the state from the parts.
        """
        added, done, total = self._mark(
            keys=[self.key(job_id), self.key(job_id) + ":done"],
            args=[index, docs, errors, str(time.time()), tokens, padded_tokens, passages],
        )
        return bool(added), int(done), int(total) if total not in ("", None) else None

    def state(self, job_id: str) -> JobState | None:
        """The job's state alone, or None if Redis does not know the job."""
        value = self.r.hget(self.key(job_id), "state")
        return JobState(str(value)) if value else None

    def count_done(self, job_id: str) -> int:
        return int(self.r.scard(self.key(job_id) + ":done"))

    def status(self, job_id: str) -> JobStatus | None:
        data = cast(dict[str, str], self.r.hgetall(self.key(job_id)))
        if not data:
            return None
        total = data.get("total")
        return JobStatus(
            job_id=job_id,
            state=JobState(data.get("state", JobState.QUEUING.value)),
            chunks_total=int(total) if total else None,
            chunks_done=self.count_done(job_id),
            docs_done=int(data.get("docs", 0)),
            errors=int(data.get("errors", 0)),
            manifest=json.loads(data.get("manifest", "{}")),
            created=float(data.get("created", 0)),
            updated=float(data.get("updated", 0)),
            started=float(data["started"]) if data.get("started") else None,
            report=json.loads(data["report"]) if data.get("report") else None,
            reason=data.get("reason") or None,
            resumed_at=float(data["resumed_at"]) if data.get("resumed_at") else None,
            resumed_chunks=int(data.get("resumed_chunks", 0)),
            resumed_docs=int(data.get("resumed_docs", 0)),
        )

    def record_worker(self, job_id: str, worker: str, info: dict[str, Any]) -> None:
        """What one worker process ran this job with (threads, backend, peak memory)."""
        self.r.hset(self.key(job_id) + ":workers", worker, json.dumps(info))
        self.r.expire(self.key(job_id) + ":workers", FINISHED_TTL)

    def workers(self, job_id: str) -> dict[str, dict[str, Any]]:
        raw = cast(dict[str, str], self.r.hgetall(self.key(job_id) + ":workers"))
        return {name: json.loads(info) for name, info in raw.items()}

    def counters(self, job_id: str) -> dict[str, int]:
        """The token (and passage record) counters the workers add to as chunks finish."""
        names = ["tokens", "padded_tokens", "passages"]
        values = self.r.hmget(self.key(job_id), names)
        return {name: int(value or 0) for name, value in zip(names, values, strict=True)}

    def set_report(self, job_id: str, report: dict[str, Any]) -> None:
        self.r.hset(self.key(job_id), "report", json.dumps(report))

    def lock_finalize(self, job_id: str, owner: str, ttl: int = 600) -> bool:
        """Take the right to merge this job's parts; only one owner holds it at a time.

        The owner that holds it gets it again: a merge retried after Redis came back, whose
        unlock was lost with the connection, does not wait out the lock's `ttl`.
        """
        return bool(self._lock(keys=[self.key(job_id) + ":finalize"], args=[owner, ttl]))

    def unlock_finalize(self, job_id: str, owner: str) -> None:
        """Release the lock if `owner` still holds it (it may have expired and passed on)."""
        self._unlock(keys=[self.key(job_id) + ":finalize"], args=[owner])
