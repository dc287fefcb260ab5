"""Scheduled, incremental jobs: entries of a schedule.toml, each run on its cron expression.

    timezone = "Europe/Paris"            # optional, default UTC

    [[entry]]
    name = "reviews"
    cron = "0 2 * * *"                   # minute hour day-of-month month day-of-week
    input = "/data/reviews"              # a folder, a glob, a URL, or a list of them
    task = "sentiment"
    model = "/models/distilbert-sst2"    # optional: the task's default model
    output = "/data/out/reviews-{date}.parquet"
    params = { function_to_apply = "softmax" }   # optional; also text_field, id_field, no_header, chunk_size
    timeout = 7200                       # optional: seconds a run waits for its job (see deadline)

A run reads every document, skips those already processed (see `producer.processed`), queues
the new ones as one job for the workers, waits for it, and only then marks them processed.
"""

from __future__ import annotations

import json
import logging
import string
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nlpbatch import defaults
from nlpbatch.errors import InputError, InvalidParameter
from nlpbatch.jobstate import JobState
from nlpbatch.settings import Settings
from nlpbatch.tasks import get_task
from producer.client import submit_job, wait_job
from producer.cron import crontab_of, next_runs
from producer.deadline import check_timeout, give_up, record_duration, run_timeout
from producer.job import JOB_PRECISIONS, JobSpec, prepare_job
from producer.processed import ProcessedStore, doc_key
from producer.readers import expand_inputs, iter_documents

log = logging.getLogger("nlpbatch.schedule")

PATTERN_FIELDS = {"date", "time", "name"}
_OPTIONAL = {"model", "params", "text_field", "id_field", "no_header", "chunk_size", "precision", "timeout"}
_REQUIRED = {"name", "cron", "input", "task", "output"}


@dataclass(frozen=True)
class Entry:
    """One scheduled job: when it runs, what it reads, and where each run writes."""

    name: str
    cron: str
    inputs: tuple[str, ...]
    task: str
    model: str
    output: str
    params: dict[str, Any] = field(default_factory=dict)
    text_field: str = "text"
    id_field: str = "id"
    chunk_size: int = defaults.CHUNK_SIZE
    precision: str = "fp32"
    #: Seconds a run waits for its job; None: a multiple of the last run's (producer.deadline).
    timeout: float | None = None
    no_header: bool = False

    def output_for(self, when: datetime) -> str:
        """The output path of the run scheduled at `when`: {date}, {time} and {name} filled in."""
        return self.output.format(
            date=when.strftime("%Y-%m-%d"), time=when.strftime("%H%M%S"), name=self.name
        )


@dataclass(frozen=True)
class ScheduleConfig:
    """The entries of a schedule file, by name, and the timezone their cron expressions use."""

    entries: dict[str, Entry]
    timezone: str = "UTC"


def _entry(raw: Any, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise InvalidParameter(f"{where}: an entry must be a table")
    missing = sorted(_REQUIRED - set(raw))
    unknown = sorted(set(raw) - _REQUIRED - _OPTIONAL)
    if missing or unknown:
        problem = f"missing {', '.join(missing)}" if missing else f"unknown key(s) {', '.join(unknown)}"
        raise InvalidParameter(f"{where}: {problem}; keys: {', '.join(sorted(_REQUIRED | _OPTIONAL))}")
    name = str(raw["name"])
    crontab_of(str(raw["cron"]))
    spec = get_task(str(raw["task"]))
    spec.validate_params(dict(raw.get("params", {})))
    used = {f for _, f, _, _ in string.Formatter().parse(str(raw["output"])) if f}
    if used - PATTERN_FIELDS or not used & {"date", "time"}:
        raise InvalidParameter(
            f"entry {name!r}: output {raw['output']!r} must name each run by {{date}} (or {{time}}); "
            f"fields: {', '.join(sorted('{' + f + '}' for f in PATTERN_FIELDS))}"
        )
    inputs = raw["input"] if isinstance(raw["input"], list) else [raw["input"]]
    chunk_size = raw.get("chunk_size", defaults.CHUNK_SIZE)
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise InvalidParameter(f"entry {name!r}: chunk_size must be a whole number >= 1, got {chunk_size!r}")
    no_header = raw.get("no_header", False)
    if not isinstance(no_header, bool):
        raise InvalidParameter(f"entry {name!r}: no_header must be true or false, got {no_header!r}")
    if raw.get("precision", "fp32") not in JOB_PRECISIONS:
        raise InvalidParameter(
            f"entry {name!r}: unknown precision {raw['precision']!r}; valid: {', '.join(JOB_PRECISIONS)}"
        )
    return Entry(
        name=name,
        cron=str(raw["cron"]),
        inputs=tuple(str(i) for i in inputs),
        task=spec.name,
        model=str(raw.get("model") or spec.default_model),
        output=str(raw["output"]),
        params=dict(raw.get("params", {})),
        text_field=str(raw.get("text_field", "text")),
        id_field=str(raw.get("id_field", "id")),
        chunk_size=chunk_size,
        precision=str(raw.get("precision", "fp32")),
        no_header=no_header,
        timeout=check_timeout(name, raw.get("timeout")),
    )


def load_config(path: str | Path) -> ScheduleConfig:
    """Read and check a schedule file; a JobError names the first problem found."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read schedule {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"schedule {path} is not valid TOML: {exc}") from None
    raw_entries = data.get("entry", [])
    if not isinstance(raw_entries, list) or not raw_entries:
        raise InputError(f"schedule {path} has no [[entry]] tables")
    entries: dict[str, Entry] = {}
    for number, raw in enumerate(raw_entries, start=1):
        entry = _entry(raw, f"{path}: entry {number}")
        if entry.name in entries:
            raise InvalidParameter(f"{path}: two entries are named {entry.name!r}")
        entries[entry.name] = entry
    timezone = str(data.get("timezone", "UTC"))
    try:
        ZoneInfo(timezone)
    except (ValueError, ZoneInfoNotFoundError):
        raise InvalidParameter(
            f"{path}: unknown timezone {timezone!r}; use a name such as UTC or Europe/Paris"
        ) from None
    return ScheduleConfig(entries, timezone)


@dataclass(frozen=True)
class RunResult:
    """What one scheduled run did."""

    entry: str
    new: int
    already_done: int
    unreadable: int
    job_id: str | None = None
    output: str | None = None
    state: str = "nothing new"

    def describe(self) -> str:
        """One line for the log and for `--run-now`."""
        if self.job_id is None:
            return (
                f"{self.entry}: nothing new ({self.already_done} documents already processed, "
                f"{self.unreadable} unreadable); no job queued"
            )
        return (
            f"{self.entry}: {self.new} new documents ({self.already_done} already processed, "
            f"{self.unreadable} unreadable) -> job {self.job_id} {self.state}, output {self.output}"
        )


def state_path(settings: Settings) -> Path:
    """The processed-documents file of this beat host."""
    return settings.home / "schedule" / "processed.sqlite"


def run_entry(entry: Entry, settings: Settings, *, now: datetime, timeout: float | None = None) -> RunResult:
    """Run one entry as if scheduled at `now`: queue only new documents, mark them once written.

    The run waits for its job for `timeout` seconds, else the entry's own, else a multiple of
    its last run's time (`producer.deadline`); past that, the job is marked failed.
    """
    store = ProcessedStore(state_path(settings))
    try:
        return _run(entry, settings, store, now, timeout)
    finally:
        store.close()


def _run(
    entry: Entry, settings: Settings, store: ProcessedStore, now: datetime, timeout: float | None
) -> RunResult:
    spec = get_task(entry.task)
    params = spec.validate_params(entry.params)
    fields = JobSpec(
        spec.name,
        entry.model,
        entry.inputs,
        "",
        text_field=entry.text_field,
        id_field=entry.id_field,
        no_header=entry.no_header,
    ).fields
    stamp = now.strftime("%Y%m%dT%H%M%S")
    # The new documents go to a staging file, which becomes the job's input: the job's
    # manifest then names exactly what it processed, and can be resumed.
    staged = settings.home / "schedule" / "staging" / f"{entry.name}-{stamp}.jsonl"
    staged.parent.mkdir(parents=True, exist_ok=True)
    new_keys: list[str] = []
    already = unreadable = 0
    batch: list[tuple[str, dict[str, Any]]] = []

    def flush(fh: Any) -> None:
        # One query per batch of documents, not one per document.
        nonlocal already
        known = store.known([key for key, _ in batch])
        for key, doc in batch:
            if key in known:
                already += 1
            else:
                new_keys.append(key)
                fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
        batch.clear()

    with staged.open("w", encoding="utf-8") as fh:
        for doc in iter_documents(expand_inputs(entry.inputs), fields):
            missing = [f for f in spec.input_fields if f not in doc]
            if "error" in doc or missing:
                unreadable += 1  # not marked: once the file is fixed, the document runs
                reason = doc["error"]["message"] if "error" in doc else f"missing field {missing[0]!r}"
                log.warning("%s: document %s: %s", entry.name, doc["id"], reason)
                continue
            batch.append((doc_key(doc, task=spec.name, model=entry.model, params=params), doc))
            if len(batch) >= 500:
                flush(fh)
        flush(fh)
    if not new_keys:
        staged.unlink()
        result = RunResult(entry.name, 0, already, unreadable)
        log.info("%s", result.describe())
        return result
    try:
        job = prepare_job(
            task=spec.name,
            model=entry.model,
            inputs=[str(staged)],
            output=entry.output_for(now),
            params=entry.params,
            precision=entry.precision,
            chunk_size=entry.chunk_size,
        )
        submission = submit_job(job, settings)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    limit = run_timeout(settings, entry.name, entry.timeout if timeout is None else timeout)
    started = time.monotonic()
    status = wait_job(settings, submission.job_id, timeout=limit)
    if not status.state.is_finished:
        status = give_up(settings, entry.name, status, time.monotonic() - started)
    if status.state is JobState.DONE:
        record_duration(settings, entry.name, time.monotonic() - started)
        # Only now are the records safely in the output: a run that dies before this line
        # is redone in full next time, never skipped.
        store.mark(new_keys, entry=entry.name, job_id=submission.job_id)
    if status.state.is_finished:
        staged.unlink(missing_ok=True)  # kept while the job runs on, so it can be resumed
    result = RunResult(
        entry.name, len(new_keys), already, unreadable, submission.job_id, job.output, status.state.value
    )
    log.info("%s", result.describe())
    return result


def check_entries(config: ScheduleConfig, now: datetime | None = None) -> list[str]:
    """Two lines per entry, for `nlpbatch schedule --check`: its next three runs, and what it runs."""
    now = now or datetime.now(ZoneInfo(config.timezone))
    lines = []
    for e in config.entries.values():
        runs = next_runs(e.cron, now)
        lines.append(f"{e.name}: next runs " + ", ".join(r.strftime("%Y-%m-%d %H:%M %Z") for r in runs))
        lines.append(
            f"{e.name}: cron {e.cron!r} ({config.timezone}), {e.task} with {e.model}, "
            f"{', '.join(e.inputs)} -> {e.output}"
        )
    return lines
