"""How long a scheduled run waits for its job, and what happens when that time is up.

A beat host runs each entry in a thread that waits for its job; a job that no worker takes,
or that stalls, must not hold that thread (and, through it, every later firing of the entry)
forever. Each entry's run time is kept on the beat host, so the default wait follows it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from nlpbatch import defaults, storage
from nlpbatch.errors import InvalidParameter
from nlpbatch.jobstate import JobState, JobStatus
from nlpbatch.settings import Settings
from producer.client import connect

log = logging.getLogger("nlpbatch.schedule")


def check_timeout(name: str, timeout: Any) -> float | None:
    """An entry's `timeout` key as seconds; InvalidParameter unless it is a number > 0."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise InvalidParameter(f"entry {name!r}: timeout must be a number of seconds > 0, got {timeout!r}")
    return float(timeout)


def _durations_path(settings: Settings) -> Path:
    return settings.home / "schedule" / "durations.json"


def _durations(settings: Settings) -> dict[str, float]:
    try:
        data = json.loads(_durations_path(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return (
        {k: float(v) for k, v in data.items() if isinstance(v, int | float)} if isinstance(data, dict) else {}
    )


def run_timeout(settings: Settings, name: str, timeout: float | None) -> float:
    """Seconds entry `name`'s run waits: its `timeout`, else a multiple of its last run's time."""
    if timeout is not None:
        return timeout
    last = _durations(settings).get(name)
    if last is None:
        return float(defaults.SCHEDULE_TIMEOUT)
    return max(float(defaults.SCHEDULE_TIMEOUT_FLOOR), defaults.SCHEDULE_TIMEOUT_FACTOR * last)


def record_duration(settings: Settings, name: str, seconds: float) -> None:
    """Remember how long entry `name`'s finished run took, for its next default timeout."""
    durations = {**_durations(settings), name: round(seconds, 3)}
    storage.write_bytes(_durations_path(settings), json.dumps(durations, indent=1).encode("utf-8"))


def give_up(settings: Settings, name: str, status: JobStatus, waited: float) -> JobStatus:
    """Mark the job of a run that passed its timeout failed, so that it ends and says why."""
    reason = f"scheduled run {name!r} gave up after waiting {waited:.0f} s for its job"
    log.error("%s: job %s %s; nothing is marked processed", name, status.job_id, reason)
    store = connect(settings)
    state = store.state(status.job_id)
    if state is not None and not state.is_finished:
        store.set_state(status.job_id, JobState.FAILED, reason)
    return store.status(status.job_id) or status
