"""After a failover, make Redis agree with the job's files again: nothing the old primary took is lost.

Replication to a replica is asynchronous, so when Sentinel promotes one, the writes it had not
yet received are gone: chunk messages, done marks, even the job's own state. The job's files
still hold the truth (its manifest, and one part per finished chunk), so the producer, `wait`
and `resume` compare them with Redis whenever the server they talk to is not the one the job
last saw (its run id changed: a promoted replica, or a restart), and

- count again each chunk whose part is written but whose done mark is missing;
- queue again each chunk the producer sent that has no part and no message left in Redis
  (neither waiting in the queue nor delivered to a worker); a chunk a worker still holds may so
  run twice, and its part is written once;
- rebuild the job's state from the manifest and the parts when Redis lost the job altogether.

A job whose state vanishes while the server stayed the same was evicted or deleted: that is an
error (JobLostError), not something to paper over, since the counts it held are gone with it.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections.abc import Iterable
from typing import Any

from nlpbatch import retry
from nlpbatch.broker import PROCESS_CHUNK, make_celery
from nlpbatch.errors import BrokerError
from nlpbatch.jobstore import JobState, JobStatus, JobStore
from nlpbatch.outputs import open_output
from nlpbatch.passages import document_records, passage_job
from nlpbatch.settings import Settings, redact_url

log = logging.getLogger("nlpbatch.producer")

#: kombu's Redis transport: delivered, unacknowledged messages, and the queues of each priority.
UNACKED = "unacked"
PRIORITY_QUEUES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
#: Seconds between two looks at which server is primary: one INFO call per look.
CHECK_EVERY = 1.0

# Claim the repair: only the process that moves the job's server mark from `old` does it.
_CLAIM = """
local seen = redis.call('HGET', KEYS[1], 'server')
if seen == ARGV[1] or (seen == false and ARGV[1] == '') then
  redis.call('HSET', KEYS[1], 'server', ARGV[2])
  return 1
end
return 0
"""


class JobLostError(BrokerError):
    """Redis dropped a job's state without a failover or a restart: evicted or deleted."""


def server_id(store: JobStore) -> str:
    """The run id of the Redis server `store` talks to now; it changes with the server."""
    return str(store.r.info("server")["run_id"])


def alive_chunks(store: JobStore, queue: str, job_id: str) -> set[int]:
    """Indexes of the job's chunks whose message is still in Redis: queued, or held by a worker."""
    raw: list[Any] = []
    for suffix in PRIORITY_QUEUES:
        raw += [json.loads(m) for m in store.r.lrange(queue + suffix, 0, -1)]
    raw += [json.loads(m)[0] for m in store.r.hvals(UNACKED)]
    alive = set()
    for message in raw:
        chunk = _chunk_of(message)
        if chunk and chunk.get("job_id") == job_id and isinstance(chunk.get("index"), int):
            alive.add(chunk["index"])
    return alive


def _chunk_of(message: dict[str, Any]) -> dict[str, Any] | None:
    """The chunk dict a kombu message carries as its task's first argument; None if another kind."""
    try:
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return args[0] if args and isinstance(args[0], dict) else None
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def recount(store: JobStore, job_id: str, output: Any, params: dict[str, Any] | None = None) -> int:
    """Mark done each chunk whose part is written but whose done mark Redis lost; returns how many."""
    marked = {int(i) for i in store.r.smembers(store.key(job_id) + ":done")}
    lost = sorted(output.done_parts() - marked)
    for index in lost:
        docs, errors, passages = _counts(output.read_part(index), params)
        store.mark_done(job_id, index, docs, errors, passages=passages)
    return len(lost)


def requeue(settings: Settings, job_id: str, manifest: dict[str, Any], indexes: set[int]) -> None:
    """Send again the messages of chunks `indexes`, cut from the inputs as the producer cut them."""
    from producer.job import JobSpec  # the job's inputs and options, as `resume` reads them

    app = make_celery(settings)
    for msg in JobSpec.from_manifest(manifest).messages(job_id):
        if msg.index > max(indexes):
            break
        if msg.index in indexes:
            app.send_task(PROCESS_CHUNK, args=[msg.to_dict()], queue=settings.queue)


class FailoverWatch:
    """Follows which Redis server a job runs on, and repairs the job when that server changes."""

    def __init__(self, settings: Settings, store: JobStore, job_id: str) -> None:
        self.settings, self.store, self.job_id = settings, store, job_id
        self.sent: set[int] = set()
        self.known: JobStatus | None = None
        self.server: str | None = None  # learnt at the first look
        self.last_look = -math.inf  # the first check looks at once

    def _claim(self, keys: list[str], args: list[str]) -> Any:
        return self.store.r.eval(_CLAIM, len(keys), *keys, *args)

    def _patiently(self, call: Any) -> Any:
        return retry.patiently(call, what=redact_url(self.settings.broker_url), patience=300, max_pause=5.0)

    def note_sent(self, indexes: Iterable[int]) -> None:
        """Chunks this process queued: after a failover, those with no part and no message go again."""
        self.sent.update(indexes)

    def check(self, status: JobStatus | None = None, *, force: bool = False) -> JobStatus | None:
        """Repair the job if its server changed since the job last saw it; returns its status now.

        Looks at most once per CHECK_EVERY seconds unless `force` (returning `status` as given
        in between). JobLostError if the job's state vanished from a server that did not change.
        """
        if not force and time.monotonic() - self.last_look < CHECK_EVERY:
            return status
        self.last_look = time.monotonic()
        key = self.store.key(self.job_id)
        status = status or self._patiently(lambda: self.store.status(self.job_id))
        now = self._patiently(lambda: server_id(self.store))
        if status is None:
            if self.known is None:
                return None  # a job this process never saw: the caller says it is unknown
            if now == self.server:
                raise JobLostError(lost_reason(self.store, self.job_id, self.settings))
            seen = ""
        else:
            self.known = status
            seen = self._patiently(lambda: self.store.r.hget(key, "server")) or ""
        before, self.server = self.server, now
        if seen == now:
            return status
        if status is not None and not seen and before in (None, now):
            # A job created without a server mark (before marks were written with the job), seen
            # for the first time: note its server, there is nothing to compare with yet. A job
            # with no mark on a server other than the one this process saw lost it in a failover.
            self._patiently(lambda: self._claim(keys=[key], args=["", now]))
            return status
        self._repair(now, seen)
        status = self._patiently(lambda: self.store.status(self.job_id))
        self.known = status or self.known
        return status

    def _repair(self, now: str, seen: str) -> None:
        if self.known is None:
            raise JobLostError(lost_reason(self.store, self.job_id, self.settings))
        where = getattr(self.store.r.connection_pool, "get_master_address", lambda: None)()
        log.warning(
            "job %s: Redis is another server now%s; checking the job against its parts",
            self.job_id,
            f" (primary {where[0]}:{where[1]})" if where else "",
        )
        self._patiently(lambda: self._do_repair(now, seen))

    def _do_repair(self, now: str, seen: str) -> None:
        assert self.known is not None
        store, job_id, manifest = self.store, self.job_id, self.known.manifest
        total = self.known.chunks_total
        output = open_output(manifest["output"], job_id=job_id, redis=lambda: store.r)
        if store.status(job_id) is None:
            params = manifest.get("params")
            counted = {i: _counts(output.read_part(i), params) for i in output.done_parts()}
            done = {i: (docs, errors) for i, (docs, errors, _) in counted.items()}
            store.restore(job_id, manifest, done, sum(p for _, _, p in counted.values()))
            if self.known.chunks_total is not None:
                store.set_total(job_id, self.known.chunks_total)
            seen = ""
        if not self._claim(keys=[store.key(job_id)], args=[seen, now]):
            return  # another producer or `wait` repairs it
        status = store.status(job_id)
        if status is not None and status.chunks_total is None and total is not None:
            store.set_total(job_id, total)  # the total was lost, not the producer's to send again
        if status is not None and not status.state.is_finished and output.merged():
            store.set_state(job_id, JobState.DONE)  # merged, but the DONE mark was lost
            return
        recounted = recount(store, job_id, output, manifest.get("params"))
        candidates = set(range(total)) if total is not None else set(self.sent)
        missing = candidates - output.done_parts() - alive_chunks(store, self.settings.queue, job_id)
        if missing:
            requeue(self.settings, job_id, manifest, missing)
        log.warning(
            "job %s: %d done mark(s) restored from parts, %d vanished chunk(s) queued again%s",
            job_id,
            recounted,
            len(missing),
            f" (first {min(missing)})" if missing else "",
        )


def _counts(records: list[dict[str, Any]], params: dict[str, Any] | None) -> tuple[int, int, int]:
    """(documents, error records, passage records) of a part: a passage job's part holds a
    record per passage (and one per failed document)."""
    errors = sum(1 for r in records if "error" in r)
    passages = len(records) - errors if passage_job(params) else 0
    return len(document_records(records, params)), errors, passages


def lost_reason(store: JobStore, job_id: str, settings: Settings) -> str:
    """Why the job's state is gone, with the eviction policy and count when Redis evicts keys."""
    try:
        memory, stats = store.r.info("memory"), store.r.info("stats")
        policy, evicted = memory.get("maxmemory_policy", "?"), stats.get("evicted_keys", 0)
    except Exception:  # the message matters more than its detail
        policy, evicted = "?", "?"
    return (
        f"job {job_id}: its state is gone from Redis at {redact_url(settings.broker_url)} "
        f"(maxmemory-policy {policy}, {evicted} keys evicted); nlpbatch needs maxmemory-policy "
        f"noeviction. Its finished chunks are kept: `nlpbatch resume {job_id}` carries it on."
    )
