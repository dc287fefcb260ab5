"""Distributed jobs: queue chunks through Celery, follow their progress, and collect them."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import redis

from nlpbatch import reconnect
from nlpbatch.broker import PROCESS_CHUNK, make_celery
from nlpbatch.errors import BrokerError, InputError
from nlpbatch.jobs import finalize, new_job_id, save_manifest
from nlpbatch.jobstore import JobState, JobStatus, JobStore
from nlpbatch.repeats import RepeatedIds
from nlpbatch.settings import Settings, redact_url
from producer.job import JobSpec
from producer.precision import GATE_DOCS, GATE_MAX_DOCS, choose_precision

FINAL_STATES = (JobState.DONE, JobState.CANCELLED, JobState.FAILED)
# How long the producer keeps trying while Redis is unreachable (a restart, a failover).
REDIS_PATIENCE = 300.0

log = logging.getLogger("nlpbatch.producer")
T = TypeVar("T")


def patiently(settings: Settings, call: Callable[[], T], patience: float = REDIS_PATIENCE) -> T:
    """`call()`, tried again while the settings' Redis is unreachable, for up to `patience` s.

    A producer or a `wait` thus carries on where it was once a restarted Redis is back.
    """
    where = redact_url(settings.broker_url)
    return reconnect.patiently(call, what=where, patience=patience, max_pause=5.0)


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
    max_in_flight: int = 64,
    on_job_id: Callable[[str], None] | None = None,
    gate_threshold: float | None = None,
    gate_docs: int = GATE_DOCS,
    gate_max_docs: int = GATE_MAX_DOCS,
) -> Submission:
    """Queue every chunk of `job`; returns once all are queued (not done).

    At most `max_in_flight` chunks wait in Redis at a time, so the broker's memory stays
    bounded whatever the corpus size. An int8 or auto job runs its accuracy gate here
    first (see producer.precision), and every chunk carries the precision it chose.
    """
    store = connect(settings)
    app = make_celery(settings)
    job_id = new_job_id()
    precision, gate, messages = choose_precision(
        job,
        job.messages(job_id),
        settings,
        gate_docs=gate_docs,
        threshold=gate_threshold,
        gate_max_docs=gate_max_docs,
    )
    job = dataclasses.replace(job, precision=precision)
    manifest = {**job.manifest(job_id), "gate": gate}
    save_manifest(settings, manifest)
    store.create(job_id, manifest)
    if on_job_id:
        on_job_id(job_id)
    sent = 0
    repeats = RepeatedIds()  # the producer reads every document anyway, to make the chunks
    for msg in repeats.count(messages):
        while sent - patiently(settings, lambda: store.count_done(job_id)) >= max_in_flight:
            time.sleep(0.2)
        if patiently(settings, lambda: store.state(job_id)) is JobState.CANCELLED:
            break  # `nlpbatch cancel` came while the job was still being queued
        app.send_task(PROCESS_CHUNK, args=[msg.to_dict()], queue=settings.queue)
        sent += 1
    if repeats.summary():
        # Before the total: no worker can finish the job, and write its report, without it.
        manifest["repeated_ids"] = repeats.summary()
        save_manifest(settings, manifest)
        store.set_manifest(job_id, manifest)
    store.set_total(job_id, sent)
    # Workers may have finished every chunk before the total was known.
    finalize(store, job_id)
    return Submission(job_id, sent)


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
    while True:
        status = patiently(settings, lambda: store.status(job_id))
        if status is None:
            raise InputError(f"unknown job {job_id!r} on {redact_url(settings.broker_url)}")
        if status.complete and status.state is JobState.RUNNING:
            finalize(store, job_id)
            status = store.status(job_id) or status
        if on_progress:
            on_progress(status)
        if status.state in FINAL_STATES:
            return status
        if deadline is not None and time.monotonic() > deadline:
            return status
        time.sleep(poll)
