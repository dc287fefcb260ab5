"""Distributed jobs: queue chunks through Celery, follow their progress, and collect them."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import redis

from nlpbatch import defaults, retry
from nlpbatch.broker import PROCESS_CHUNK, make_celery
from nlpbatch.errors import BrokerError, InputError, StorageError
from nlpbatch.jobs import finalize, new_job_id, save_manifest
from nlpbatch.jobstore import JobState, JobStatus, JobStore
from nlpbatch.repeats import RepeatedIds
from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings, redact_url
from producer.failover import FailoverWatch, server_id
from producer.fullredis import send_with_room, warn_if_evicting
from producer.job import JobSpec
from producer.precision import choose_precision

REDIS_PATIENCE = defaults.PRODUCER_REDIS_PATIENCE

log = logging.getLogger("nlpbatch.producer")
T = TypeVar("T")


def patiently(settings: Settings, call: Callable[[], T], patience: float = REDIS_PATIENCE) -> T:
    """`call()`, tried again while the settings' Redis is unreachable, for up to `patience` s.

    A producer or a `wait` thus carries on where it was once a restarted Redis is back.
    """
    where = redact_url(settings.broker_url)
    return retry.patiently(call, what=where, patience=patience, max_pause=5.0)


@dataclass
class Submission:
    job_id: str
    chunks: int


def connect(settings: Settings) -> JobStore:
    """A JobStore on the settings' Redis; BrokerError, with the password hidden, if unreachable."""
    store = JobStore.from_url(settings.broker_url)
    try:
        store.r.ping()
    except redis.RedisError as exc:
        raise BrokerError(f"cannot reach Redis at {redact_url(settings.broker_url)}: {exc}") from None
    return store


def submit_job(
    job: JobSpec,
    settings: Settings,
    *,
    max_in_flight: int = defaults.MAX_IN_FLIGHT,
    on_job_id: Callable[[str], None] | None = None,
) -> Submission:
    """Queue every chunk of `job`; returns once all are queued (not done).

    At most `max_in_flight` chunks wait in Redis at a time, so the broker's memory stays
    bounded whatever the corpus size. An int8 or auto job runs its accuracy gate here
    first (see producer.precision), and every chunk carries the precision it chose.
    """
    store = connect(settings)
    job_id = new_job_id()
    decision = choose_precision(job, job.messages(job_id), settings)
    messages = decision.messages  # workers compute the gate's documents again: they are theirs
    gate = decision.gate.to_dict() if decision.gate is not None else None
    job = dataclasses.replace(job, precision=decision.precision)
    manifest = {**job.manifest(job_id), "gate": gate}
    save_manifest(settings, manifest)
    # The server mark goes with the job: a replica promoted later holds both or neither.
    store.create(job_id, manifest, server=server_id(store))
    if on_job_id:
        on_job_id(job_id)
    repeats = RepeatedIds()  # the producer reads every document anyway, to make the chunks
    sent = send_chunks(settings, store, job_id, repeats.count(messages), max_in_flight=max_in_flight)
    if repeats.summary():
        # Before the total: no worker can finish the job, and write its report, without it.
        manifest["repeated_ids"] = repeats.summary()
        save_manifest(settings, manifest)
        store.set_manifest(job_id, manifest)
    store.set_total(job_id, sent)
    # Workers may have finished every chunk before the total was known.
    finalize(store, job_id)
    return Submission(job_id, sent)


def send_chunks(
    settings: Settings,
    store: JobStore,
    job_id: str,
    messages: Iterable[ChunkMessage],
    *,
    max_in_flight: int = defaults.MAX_IN_FLIGHT,
    done_before: int = 0,
) -> int:
    """Send `messages` to the workers by task name; returns how many were sent.

    Waits while `max_in_flight` of them are in Redis, not yet done (`done_before` chunks of
    the job were done before these were sent), and stops once the job is cancelled.
    """
    app = make_celery(settings)
    patiently(settings, lambda: warn_if_evicting(store))
    watch = FailoverWatch(settings, store, job_id)  # a promoted replica lost some: send them again
    sent = 0
    for msg in messages:
        while sent - (patiently(settings, lambda: store.count_done(job_id)) - done_before) >= max_in_flight:
            watch.check()
            time.sleep(0.2)
        watch.check()
        if patiently(settings, lambda: store.state(job_id)) is JobState.CANCELLED:
            break  # `nlpbatch cancel` came while the job was still being queued
        body = msg.to_dict()
        size = 2 * len(json.dumps(body))  # base64 in a kombu envelope, kept once more while unacked
        send = functools.partial(app.send_task, PROCESS_CHUNK, args=[body], queue=settings.queue)
        send_with_room(store, size, send, job_id, patient=functools.partial(patiently, settings))
        watch.note_sent([msg.index])
        sent += 1
    return sent


def job_status(settings: Settings, job_id: str) -> JobStatus:
    status = connect(settings).status(job_id)
    if status is None:
        raise InputError(f"unknown job {job_id!r} on {redact_url(settings.broker_url)}")
    return status


def wait_job(
    settings: Settings,
    job_id: str,
    *,
    timeout: float | None = None,
    poll: float = 0.5,
    on_progress: Callable[[JobStatus], None] | None = None,
) -> JobStatus:
    """Block until the job ends (or `timeout` seconds pass); merges the output if due."""
    store = connect(settings)
    deadline = None if timeout is None else time.monotonic() + timeout
    merge_failed = False
    watch = FailoverWatch(settings, store, job_id)
    while True:
        status = patiently(settings, lambda: store.status(job_id))
        if status is None or not status.state.is_finished:
            status = watch.check(status, force=watch.known is None or status is None)
        if status is None:
            raise InputError(f"unknown job {job_id!r} on {redact_url(settings.broker_url)}")
        if status.complete and status.state is JobState.RUNNING:
            # A merge under way elsewhere is waited for, within the timeout, not run twice.
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                finalize(store, job_id, wait=left)
            except StorageError as exc:  # kept, and tried again at the next poll
                if not merge_failed:
                    log.warning("%s; trying again until it can be written", exc)
                merge_failed = True
            status = store.status(job_id) or status
        if on_progress:
            on_progress(status)
        if status.state.is_finished:
            return status
        if deadline is not None and time.monotonic() > deadline:
            return status
        time.sleep(poll)
