"""Thin Celery tasks: decode the message, call the chunk function, record the result."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

import redis
from celery import Celery, Task
from celery.exceptions import Reject

from nlpbatch import defaults
from nlpbatch.broker import PROCESS_CHUNK
from nlpbatch.chunkresult import ChunkResult, Runtime
from nlpbatch.errors import (
    BrokerError,
    MessageError,
    OutputError,
    PermanentError,
    StorageError,
    TransientError,
    error_info,
)
from nlpbatch.jobs import finalize
from nlpbatch.jobstore import JobState, JobStore
from nlpbatch.outputs import open_output
from nlpbatch.passages import passage_job
from nlpbatch.report import peak_rss_mb
from nlpbatch.retry import patiently
from nlpbatch.roots import refusal
from nlpbatch.schema import ChunkMessage, error_record
from nlpbatch.settings import Settings
from worker import metrics
from worker.engine import Engine
from worker.hold import hold_message
from worker.hooks import WORKER_RETRY, BudgetSpent, after_chunk, before_chunk, worker_hooks

log = logging.getLogger("nlpbatch.worker")
T = TypeVar("T")

MAX_RETRIES = WORKER_RETRY.retries
# Seconds a chunk waits, in hand, for a Redis that has gone away before it gives up and is
# retried later: a restart with AOF, a failover or a network blip is over well before this.
REDIS_PATIENCE = defaults.WORKER_REDIS_PATIENCE


def with_redis(call: Callable[[], T], what: str, patience: float = REDIS_PATIENCE) -> T:
    """`call()`, tried again while Redis is unreachable (see `nlpbatch.retry.patiently`).

    The chunk's work is kept meanwhile, so a Redis restart costs a wait, not the chunk. After
    `patience` seconds (the worker passes `Settings.redis_patience`, NLPBATCH_REDIS_PATIENCE)
    it raises BrokerError, and the chunk is retried through Celery.
    """
    return patiently(call, what=what, patience=patience)


def check_message(msg: ChunkMessage, settings: Settings | None = None) -> None:
    """MessageError unless the output is `redis://`, or an absolute path or URL with a known extension,
    and both output and model lie inside the settings' roots (NLPBATCH_OUTPUT_ROOTS, _MODEL_ROOTS).

    The producer checks the output before queuing; this stops a forged or corrupted message
    from making the worker write anywhere else, or load a model from anywhere else.
    """
    try:
        open_output(msg.output).check_safe()
    except OutputError as exc:
        raise MessageError(str(exc)) from None
    if settings is not None:
        reason = refusal(msg.output, msg.model, settings.output_roots, settings.model_roots)
        if reason is not None:
            raise MessageError(reason)


def run_records(engine: Engine, msg: ChunkMessage) -> ChunkResult:
    """The chunk's result; a permanent failure of the whole chunk becomes one error per document.

    An unknown task, model or parameter in a message would fail the same way on every retry,
    so it is recorded rather than retried: the job still ends, and its errors say why.
    """
    started = time.perf_counter()
    try:
        return engine.run_chunk(msg)
    except PermanentError as exc:
        log.error("job %s chunk %d failed for good: %s", msg.job_id, msg.index, exc)
        metrics.count_error(exc, "chunk")
        records = [error_record(doc.get("id"), error_info(exc)) for doc in msg.docs]
        nothing = Runtime("", msg.precision, engine.threads)  # no model ran: the errors say why
        return ChunkResult(msg.index, records, 0, 0, nothing, time.perf_counter() - started)


def handle_chunk(
    message: Any,
    store: JobStore,
    patience: float = REDIS_PATIENCE,
    settings: Settings | None = None,
    *,
    engine: Engine,
) -> dict[str, Any]:
    """Process one chunk message end to end; returns a small summary.

    The chunk's records are written to its part file before the chunk is counted, so a
    worker killed at any point leaves either nothing or a complete part, and the message
    (acknowledged only on return) is delivered again. Redis failing at any step is a
    BrokerError (after `patience` seconds of trying), and the results not being written a
    StorageError: both are retried.
    """
    try:
        msg = ChunkMessage.decode(message)
        check_message(msg, settings)
    except MessageError as exc:
        log.error("dropping chunk message: %s", exc)
        metrics.count_error(exc, "chunk")
        _fail_job(store, message, f"a worker refused chunk {_index_of(message)}: {exc}")
        return {"dropped": str(exc)}
    try:
        return _process(engine, msg, store, patience)
    except redis.RedisError as exc:
        raise BrokerError(f"job store unreachable: {exc}") from exc


def _process(engine: Engine, msg: ChunkMessage, store: JobStore, patience: float) -> dict[str, Any]:
    where = f"job {msg.job_id} chunk {msg.index}"

    def redis_call(call: Callable[[], T]) -> T:
        return with_redis(call, where, patience)

    status = redis_call(lambda: store.status(msg.job_id))
    if status is not None and status.state in (JobState.CANCELLED, JobState.DONE):
        # A cancelled job stops here; a finished one already holds this chunk's records.
        return {"job_id": msg.job_id, "index": msg.index, "skipped": status.state.value}
    log.info("%s: %d documents", where, len(msg.docs))
    if status is not None and status.started is None:
        redis_call(lambda: store.mark_started(msg.job_id))

    def totals() -> tuple[int, int]:
        now = redis_call(lambda: store.status(msg.job_id))
        return (now.errors, now.docs_done) if now else (0, 0)

    hooks = worker_hooks(status.manifest.get("max_errors") if status else None, totals)
    before_chunk(hooks, msg)
    result = run_records(engine, msg)
    records = result.records
    output = open_output(msg.output, job_id=msg.job_id, redis=lambda: store.r)
    try:
        redis_call(lambda: output.write_part(msg.index, records))
    except OSError as exc:
        raise StorageError(f"cannot write the results of chunk {msg.index}: {exc}") from exc
    errors = sum(1 for r in records if "error" in r)
    passages = len(records) - errors if passage_job(msg.params) else 0
    # Before the chunk counts as done, so the report of the job's last chunk sees it.
    worker = f"{socket.gethostname()}:{os.getpid()}"
    info = {
        **asdict(result.runtime),
        "peak_rss_mb": peak_rss_mb(),
        "load_seconds": round(engine.load_seconds, 2),
    }
    redis_call(lambda: store.record_worker(msg.job_id, worker, info))
    _, done, total = redis_call(
        lambda: store.mark_done(
            msg.job_id, msg.index, len(msg.docs), errors, result.tokens, result.padded_tokens, passages
        )
    )
    try:
        after_chunk(hooks, msg, result)
    except BudgetSpent as spent:
        why = spent.why
        redis_call(lambda: _fail_job(store, msg.to_dict(), why))
        return {"job_id": msg.job_id, "index": msg.index, "docs": len(msg.docs), "errors": errors}
    if total is not None and done >= total:
        owner = uuid.uuid4().hex  # the same across retries: one merge, however often Redis drops
        redis_call(lambda: finalize(store, msg.job_id, owner))
    return {"job_id": msg.job_id, "index": msg.index, "docs": len(msg.docs), "errors": errors}


def _job_of(message: Any) -> str | None:
    job_id = message.get("job_id") if isinstance(message, dict) else None
    return job_id if isinstance(job_id, str) else None


def _index_of(message: Any) -> str:
    index = message.get("index") if isinstance(message, dict) else None
    return str(index) if isinstance(index, int) else "?"


def _fail_job(store: JobStore, message: Any, reason: str) -> None:
    """Mark the message's job failed with `reason`, so `wait` ends and says why.

    Only a job that Redis knows and that has not ended: a stray message naming no real
    job changes nothing.
    """
    job_id = _job_of(message)
    if job_id is None:
        return
    try:
        state = store.state(job_id)
        if state is not None and not state.is_finished:
            store.set_state(job_id, JobState.FAILED, reason)
    except redis.RedisError:
        pass  # Redis is gone too; the chunk's missing part is the record, for `resume`


def _give_up(store: JobStore, message: Any, exc: BaseException) -> None:
    """Mark the job failed once a chunk has used all its retries, so `wait` ends."""
    log.error("job %s: a chunk failed after %d retries: %s", _job_of(message), MAX_RETRIES, exc)
    reason = f"chunk {_index_of(message)} failed after {MAX_RETRIES} retries: {type(exc).__name__}: {exc}"
    _fail_job(store, message, reason)


class WorkerContext:
    """What a worker process runs chunks with, as arq's `ctx`: its engine and its job store.

    Each Celery child builds its engine once, at process start (`start`, on
    `worker_process_init`); the solo pool's one process builds it before it serves.
    """

    def __init__(self, settings: Settings, *, threads: int | None = None, backend: str = "auto") -> None:
        self.settings = settings
        self.threads, self.backend = threads, backend
        self.engine: Engine | None = None
        self._store: JobStore | None = None

    def start(self, **_: Any) -> None:
        """Build this process's engine (and, on first use, its Redis pool), after the fork."""
        self.engine = Engine.from_settings(self.settings, threads=self.threads, backend=self.backend)
        self._store = None

    @property
    def store(self) -> JobStore:
        if self._store is None:  # one connection pool per worker process, made after the fork
            self._store = JobStore.from_url(self.settings.broker_url)
        return self._store


def register(app: Celery, context: WorkerContext) -> None:
    """Register nlpbatch's tasks on `app`, under explicit names, running with `context`."""
    settings = context.settings
    app.nlpbatch_context = context  # type: ignore[attr-defined]  # for whoever holds the app

    def get_store() -> JobStore:
        return context.store

    def get_engine() -> Engine:
        if context.engine is None:  # a process started without worker_process_init (eager, solo)
            context.start()
        assert context.engine is not None
        return context.engine

    @app.task(
        bind=True,
        name=PROCESS_CHUNK,
        max_retries=MAX_RETRIES,
        acks_late=True,
        reject_on_worker_lost=True,
    )
    def process_chunk(self: Task, message: dict[str, Any]) -> dict[str, Any]:
        tag = (getattr(self.request, "properties", None) or {}).get("delivery_tag")
        try:
            with hold_message(get_store().r, tag, settings.visibility_timeout):
                return handle_chunk(
                    message, get_store(), settings.redis_patience, settings, engine=get_engine()
                )
        except Exception as exc:
            # Anything but a permanent error (which handle_chunk turns into error records) is
            # retried: a failed task would be acknowledged and its chunk lost from the job.
            if not isinstance(exc, TransientError):
                log.exception("job %s: unexpected error in a chunk, retrying", _job_of(message))
            pause = WORKER_RETRY.pause(self.request.retries)
            if pause is None:
                _give_up(get_store(), message, exc)
                raise
            try:
                raise self.retry(exc=exc, countdown=pause) from exc
            except Reject as rejected:
                # Celery could not send the retry (Redis is down) and would drop this message;
                # no Celery or kombu setting covers this. Requeue it instead; if that fails too,
                # it stays unacknowledged in Redis and comes back after the visibility timeout.
                log.error("job %s: cannot schedule a retry (%s); requeuing the chunk", _job_of(message), exc)
                raise Reject(rejected.reason, requeue=True) from exc
