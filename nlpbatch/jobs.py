"""Job manifests and finalisation, shared by the producer and the workers.

A manifest records everything needed to redo a job from scratch: inputs, fields, task,
model, parameters, chunk size and output. It is saved under `NLPBATCH_HOME/jobs/` on the
submitting machine and beside the output parts, so a job can be resumed even when Redis has
lost all state.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from nlpbatch import storage
from nlpbatch.errors import InputError, StorageError
from nlpbatch.heartbeat import renewed
from nlpbatch.jobstore import JobState, JobStatus, JobStore
from nlpbatch.outputs import open_output
from nlpbatch.report import distributed_report, write_report
from nlpbatch.settings import Settings
from nlpbatch.tasks import get_task

log = logging.getLogger("nlpbatch.jobs")

#: Seconds the merge lock lives without renewal: how long a dead merger blocks the next one.
LOCK_TTL = 600


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


def save_manifest(settings: Settings, manifest: dict[str, Any]) -> Path:
    """Write the manifest to the job folder and beside the output's parts."""
    text = json.dumps(manifest, indent=2, ensure_ascii=False)
    data = text.encode("utf-8")
    local = settings.jobs_dir / f"{manifest['job_id']}.json"
    storage.write_bytes(local, data)
    open_output(manifest["output"]).write_manifest(data)
    return local


def load_manifest(settings: Settings, job_id: str) -> dict[str, Any]:
    path = settings.jobs_dir / f"{job_id}.json"
    if not path.is_file():
        raise InputError(f"unknown job {job_id!r}: no manifest at {path}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def finalize(store: JobStore, job_id: str, owner: str | None = None, *, wait: float | None = 0) -> bool:
    """Merge the parts into the output once every chunk is done. True if this call did it.

    Safe to call from any number of processes at once: one takes the lock and merges, the
    others return False, after waiting up to `wait` seconds (None: as long as it takes) for
    that merge to end. The lock is renewed while the merge runs, so a merge of any length
    runs once; if its process dies, the lock expires LOCK_TTL seconds later. Calls that pass
    the same `owner` share the lock, so a caller that retries after losing Redis mid-merge
    gets it back. StorageError if the output cannot be written (a full disk): the parts are
    kept and the job stays running, so a later call merges it.
    """
    owner = owner or uuid.uuid4().hex
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        status = store.status(job_id)
        if status is None or not status.complete or status.state is not JobState.RUNNING:
            return False
        if store.lock_finalize(job_id, owner, LOCK_TTL):
            break
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.2)  # another process merges: wait for it to end (or die and let go)
    try:
        status = store.status(job_id)  # another process may have finished meanwhile
        if status is None or status.state is not JobState.RUNNING:
            return False
        renew = functools.partial(store.lock_finalize, job_id, owner, LOCK_TTL)
        with renewed(renew, LOCK_TTL, f"merge of job {job_id}"):
            _merge(store, job_id, status)
        return True
    finally:
        store.unlock_finalize(job_id, owner)


def _merge(store: JobStore, job_id: str, status: JobStatus) -> None:
    manifest = status.manifest
    assert status.chunks_total is not None
    output = open_output(manifest["output"], job_id=job_id, redis=lambda: store.r)
    try:
        output.merge(get_task(manifest["task"]), status.chunks_total, params=manifest.get("params"))
    except OSError as exc:
        # A full disk, say: the parts stay, no output is written, and the merge is tried
        # again by the chunk's retry, by `wait`, or by `resume`.
        raise StorageError(f"cannot merge the output of job {job_id}: {exc}") from exc
    report = distributed_report(status, store.counters(job_id), store.workers(job_id))
    store.set_report(job_id, report)
    write_report(manifest["output"], report)
    store.set_state(job_id, JobState.DONE)
    log.info("job %s finished: %s", job_id, manifest["output"])
