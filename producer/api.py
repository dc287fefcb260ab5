"""The Python API for scripts: submit a job to the workers, wait for it, read its records.

    from nlpbatch import Client

    job = Client("redis://localhost:6379/0").submit(
        ["corpus.jsonl"], task="sentiment", model="./my-distilbert-sst2", output="out/sentiment.jsonl"
    )
    job.wait()
    for record in job.results():
        print(record["id"], record["label"])

The job is validated whole before anything is queued (a bad task, model, parameter, input or
output raises a `JobError`), exactly as `nlpbatch submit` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from nlpbatch import defaults
from nlpbatch.errors import NlpbatchError
from nlpbatch.jobstate import JobState, JobStatus
from nlpbatch.outputs import open_output
from nlpbatch.schema import Record
from nlpbatch.settings import Settings
from producer.client import connect, job_status, submit_job, wait_job
from producer.job import prepare_job


class JobNotDone(NlpbatchError):
    """The job's records were asked for before it finished, or it failed or was cancelled."""


class Client:
    """Submits jobs to the workers behind one broker, and finds jobs by id."""

    def __init__(self, broker_url: str | None = None, *, home: str | Path | None = None) -> None:
        """`broker_url` and `home` default to NLPBATCH_BROKER_URL and NLPBATCH_HOME, as in the CLI."""
        self.settings = Settings.from_env(broker_url=broker_url, home=home)

    def submit(
        self,
        inputs: str | Path | Sequence[str | Path],
        *,
        task: str,
        output: str | Path,
        model: str | None = None,
        output_format: str | None = None,
        params: dict[str, Any] | None = None,
        text_field: str = "text",
        id_field: str = "id",
        no_header: bool = False,
        chunk_size: int = defaults.CHUNK_SIZE,
        precision: str = "fp32",
        gate_threshold: float | None = None,
        gate_docs: int = defaults.GATE_DOCS,
        gate_max_docs: int = defaults.GATE_MAX_DOCS,
        max_in_flight: int = defaults.MAX_IN_FLIGHT,
        keep_fields: Sequence[str] = (),
        field_map: dict[str, str] | None = None,
        limit: int | None = None,
        max_errors: str | int | None = None,
        input_format: str | None = None,
        passages: int | None = None,
        overlap: int | None = None,
        passage_text: bool | None = None,
    ) -> Job:
        """Validate and queue a job; returns once every chunk is queued (not done).

        `inputs` are files, folders, globs or fsspec URLs; `output` is a `.jsonl` or
        `.parquet` path or URL, or `redis://` to keep the records in Redis for a day
        (`redis://?ttl=SECONDS` to choose). `keep_fields` names input columns to copy
        into every record (`["all"]` for every one); `field_map` reads a task field from
        another column (`{"question": "q"}`). `no_header=True` reads CSV/TSV inputs as
        rows of data whose fields are named by column number ("1", "2", ...), as `--no-header` does.
        Every other option is the `nlpbatch submit` option of that name (`max_errors="2%"`);
        `passages=N` (embed) is `params={"passages": N}`, as `--passages N` is.
        """
        from nlpbatch.passages import with_passage_options

        passage_options = {"passages": passages, "overlap": overlap, "passage_text": passage_text}
        items = [inputs] if isinstance(inputs, str | Path) else list(inputs)
        job = prepare_job(
            task=task,
            model=model,
            inputs=[str(item) for item in items],
            output=str(output),
            output_format=output_format,
            params=with_passage_options(task, params, passage_options),
            precision=precision,
            text_field=text_field,
            id_field=id_field,
            no_header=no_header,
            chunk_size=chunk_size,
            keep_fields=keep_fields,
            field_map=field_map,
            limit=limit,
            max_errors=None if max_errors is None else str(max_errors),
            stdin_format=input_format,
            gate_threshold=gate_threshold,
            gate_docs=gate_docs,
            gate_max_docs=gate_max_docs,
        )
        submission = submit_job(job, self.settings, max_in_flight=max_in_flight)
        return Job(self, submission.job_id)

    def jobs(self, limit: int = 20) -> list[JobStatus]:
        """The most recent jobs on this broker, newest first (what `nlpbatch jobs` lists)."""
        from producer.joblist import list_jobs

        return list_jobs(self.settings, limit)

    def job(self, job_id: str) -> Job:
        """A handle on a job submitted earlier, from here or from the command line."""
        job_status(self.settings, job_id)  # unknown ids fail here, not later
        return Job(self, job_id)


class Job:
    """A submitted job: its progress, its end, and its records."""

    def __init__(self, client: Client, job_id: str) -> None:
        self.client = client
        self.id = job_id

    def __repr__(self) -> str:
        return f"Job({self.id!r})"

    def status(self) -> JobStatus:
        """A snapshot of the job's progress."""
        return job_status(self.client.settings, self.id)

    def cancel(self) -> JobState:
        """Stop the job: its queued chunks are dropped and no output is written.

        Returns the state it had before (a job that had already ended is left as it was).
        """
        from producer.recovery import cancel_job

        return cancel_job(self.client.settings, self.id)

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the job ends; TimeoutError if `timeout` seconds pass first.

        Returns the final status; `JobNotDone` if the job failed or was cancelled.
        """
        started = time.monotonic()
        status = wait_job(self.client.settings, self.id, timeout=timeout)
        if not status.state.is_finished:
            raise TimeoutError(
                f"job {self.id} still {status.state.value} after {time.monotonic() - started:.0f}s"
            )
        if status.state is not JobState.DONE:
            why = f": {status.reason}" if status.reason else ""
            raise JobNotDone(f"job {self.id} ended {status.state.value}{why}")
        return status

    def results(self) -> Iterator[Record]:
        """The job's records in input order, from its output file or from Redis."""
        status = self.status()
        if status.state is not JobState.DONE:
            raise JobNotDone(f"job {self.id} is {status.state.value}; wait() for it first")
        output = open_output(
            status.manifest["output"], job_id=self.id, redis=lambda: connect(self.client.settings).r
        )
        return output.read(status.chunks_total or 0)
