"""Where an interrupted `run` left off: the parts it wrote beside its output, and whose they are.

`run` writes each chunk's records to `<output>.parts/` as `submit`'s workers do, with a
manifest (`job.json`) saying which job they belong to. Running the same command again finds
them and skips those chunks; a different job's parts are cleared first, and a submitted job's
parts are never touched.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import Any

from nlpbatch import storage
from nlpbatch.errors import OutputError
from nlpbatch.outputs.base import Output
from nlpbatch.outputs.files import FileOutput
from producer.job import JobSpec

log = logging.getLogger(__name__)

#: The job id a `run` gives its parts' manifest; a submitted job's id is never this.
RUN_ID = "run"


def run_manifest(job: JobSpec, precision: str) -> dict[str, Any]:
    """What identifies a run's parts: everything that shapes its records, and the precision used."""
    data = {"job_id": RUN_ID, **asdict(job), "precision_used": precision}
    normalized: dict[str, Any] = json.loads(json.dumps(data))
    return normalized


def _read_manifest(output: FileOutput) -> dict[str, Any] | None:
    location = storage.join(output.parts, "job.json")
    if not storage.is_file(location):
        return None
    try:
        with storage.open_read(location) as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError):
        return None  # a manifest half-written by a crash: the parts cannot be trusted
    return data if isinstance(data, dict) else None


def resumable_chunks(output: Output, manifest: dict[str, Any]) -> set[int]:
    """The chunks of this run already written, after clearing any other run's parts.

    OutputError when the parts belong to a job queued with `submit`: that job owns them.
    """
    if not isinstance(output, FileOutput) or not storage.is_dir(output.parts):
        return set()
    found = _read_manifest(output)
    if found is not None and found.get("job_id") != RUN_ID:
        raise OutputError(
            f"{output.parts} holds the parts of job {found.get('job_id')}; "
            "wait for it or cancel it, or choose another output"
        )
    if found == manifest:
        return output.done_parts()
    if output.done_parts():
        log.warning("starting over: the parts in %s were written by a different run", output.parts)
    storage.remove_tree(output.parts)
    return set()
