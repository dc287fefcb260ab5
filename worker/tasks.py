"""Thin Celery tasks: decode the message, call the chunk function, record the result."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from celery import Celery

from nlpbatch.broker import PROCESS_CHUNK
from nlpbatch.errors import BrokerError, MessageError, TransientError
from nlpbatch.jobs import finalize
from nlpbatch.jobstore import JobState, JobStore
from nlpbatch.results import is_redis_output, save_chunk, ttl_of
from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from nlpbatch.sinks import dumps, write_part
from worker import engine, metrics

log = logging.getLogger("nlpbatch.worker")


def handle_chunk(message: Any, store: JobStore) -> dict[str, Any]:
    """Process one chunk message end to end; returns a small summary.

    The chunk's records are written to its part file before the chunk is counted, so a
    worker killed at any point leaves either nothing or a complete part, and the message
    (acknowledged only on return) is delivered again.
    """
    try:
        msg = ChunkMessage.decode(message)
    except MessageError as exc:
        log.error("dropping undecodable chunk message: %s", exc)
        return {"dropped": str(exc)}
    try:
        status = store.status(msg.job_id)
    except redis.RedisError as exc:
        raise BrokerError(f"job store unreachable: {exc}") from exc
    if status is not None and status.state is JobState.CANCELLED:
        return {"job_id": msg.job_id, "index": msg.index, "skipped": "cancelled"}
    started = time.perf_counter()
    if status is not None and status.started is None:
        store.mark_started(msg.job_id)
    records = engine.run_chunk(msg)
    if is_redis_output(msg.output):
        try:
            save_chunk(store.r, msg.job_id, msg.index, [dumps(r) for r in records], ttl_of(msg.output))
        except redis.RedisError as exc:
            raise BrokerError(f"job store unreachable: {exc}") from exc
    else:
        write_part(msg.output, msg.index, records)
    metrics.observe_chunk(msg.task, records, time.perf_counter() - started)
    errors = sum(1 for r in records if "error" in r)
    try:
        _, done, total = store.mark_done(msg.job_id, msg.index, len(records), errors)
        if total is not None and done >= total:
            finalize(store, msg.job_id)
    except redis.RedisError as exc:
        raise BrokerError(f"job store unreachable: {exc}") from exc
    return {"job_id": msg.job_id, "index": msg.index, "docs": len(records), "errors": errors}


def register(app: Celery, settings: Settings) -> None:
    """Register nlpbatch's tasks on `app`, under explicit names."""
    store: JobStore | None = None

    def get_store() -> JobStore:
        nonlocal store
        if store is None:  # one connection pool per worker process, made after the fork
            store = JobStore.from_url(settings.broker_url)
        return store

    @app.task(
        name=PROCESS_CHUNK,
        autoretry_for=(TransientError,),
        retry_backoff=2,
        retry_backoff_max=300,
        retry_jitter=True,
        max_retries=8,
        acks_late=True,
        reject_on_worker_lost=True,
    )
    def process_chunk(message: dict[str, Any]) -> dict[str, Any]:
        return handle_chunk(message, get_store())
