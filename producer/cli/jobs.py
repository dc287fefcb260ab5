"""Job commands: `run`, `submit`, `status`, `wait`, `resume` and `cancel`."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from producer.cli.helpers import (
    backend_option,
    broker_option,
    build_job,
    describe_status,
    exit_for,
    handle_errors,
    job_options,
    max_in_flight_option,
    settings_for,
)


class ProcessCount(click.ParamType):
    """`--processes`: a whole number from 1, or auto."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if isinstance(value, int) or value == "auto":
            return value
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is not a whole number or auto", param, ctx)
        if number < 1:
            self.fail(f"{number} processes: give 1 or more, or auto", param, ctx)
        return number


def say_resuming(job: Any, written: int) -> None:
    """Tell the user a rerun carries on where the last one stopped, out of how many chunks."""
    from producer.readers import STDIN

    total = "" if STDIN in job.inputs else f" of {-(-sum(1 for _ in job.documents()) // job.chunk_size)}"
    click.echo(f"resuming: {written}{total} chunks already written", err=True)


def print_plan(job: Any, as_json: bool) -> None:
    """What `--dry-run` prints: the job's documents, chunks, tokens and time, all estimated here."""
    from producer.dryrun import describe_plan, dry_run

    plan = dry_run(job)
    click.echo(json.dumps(plan) if as_json else describe_plan(plan))


@click.command()
@job_options
@click.option(
    "--threads",
    type=int,
    default=None,
    help="Model threads per process [default: the cores divided among the processes].",
)
@click.option(
    "--processes",
    type=ProcessCount(),
    metavar="N|auto",
    default=None,
    help="Processes running the chunks, each loading the model once; the records are the same. "
    "auto: 1, which measured as fast as more on an idle machine, at less memory (see the README) "
    "[default: NLPBATCH_RUN_PROCESSES, else auto].",
)
@backend_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="No progress on stderr (a bar on a terminal, else a line every 10 s), no export notices.",
)
@click.pass_context
@handle_errors
def run(
    ctx: click.Context,
    threads: int | None,
    processes: int | str | None,
    backend: str,
    as_json: bool,
    quiet: bool,
    **kw: Any,
) -> None:
    """Run a job here, with no Redis and no worker."""
    from nlpbatch.report import describe, report_path
    from producer.run import run_job
    from producer.run_progress import RunProgress, show_progress

    settings = settings_for(ctx)
    if processes is None:  # NLPBATCH_RUN_PROCESSES, read by Settings, checked as the option is
        processes = ProcessCount().convert(settings.run_processes, None, ctx)
    job = build_job(kw, threads=threads, backend=backend, processes=processes)
    if kw["dry_run"]:
        print_plan(job, as_json)
        return
    show_progress(not quiet)
    progress = None if quiet else RunProgress(None, sys.stderr).counting(job.sources())
    try:
        report = run_job(
            job, settings, on_chunk=progress, on_resume=lambda written: say_resuming(job, written)
        )
    finally:
        if progress is not None:
            progress.close()
    if as_json:
        click.echo(json.dumps(report.to_dict()))
        return
    click.echo(describe(report.to_dict()))
    click.echo(f"output: {report.output} (report: {report_path(report.output)})")


@click.command()
@job_options
@broker_option
@max_in_flight_option
@click.option("--wait", "wait_after", is_flag=True, help="Wait for the job to finish.")
@click.pass_context
@handle_errors
def submit(ctx: click.Context, broker: str | None, max_in_flight: int, wait_after: bool, **kw: Any) -> None:
    """Queue a job for the workers; prints its id at once."""
    from producer.client import submit_job, wait_job

    job = build_job(kw)
    if kw["dry_run"]:
        print_plan(job, as_json=False)
        return
    settings = settings_for(ctx, broker)

    def announce(job_id: str) -> None:
        click.echo(job_id)
        sys.stdout.flush()

    submission = submit_job(job, settings, max_in_flight=max_in_flight, on_job_id=announce)
    click.echo(f"queued {submission.chunks} chunks", err=True)
    if wait_after:
        exit_for(wait_job(settings, submission.job_id))


@click.command()
@click.argument("job_id")
@broker_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
@handle_errors
def status(ctx: click.Context, job_id: str, broker: str | None, as_json: bool) -> None:
    """Show a job's progress."""
    from producer.client import job_status
    from producer.joblist import not_taken, waiting_note
    from producer.progress import print_status, status_dict

    settings = settings_for(ctx, broker)
    st = job_status(settings, job_id)
    workers = count_workers(settings) if not_taken(st) else None
    if as_json:
        click.echo(json.dumps({**status_dict(st), "workers_online": workers}))
    else:
        print_status(st, sys.stdout)
        if workers is not None:
            click.echo(waiting_note(st, workers))


@click.command()
@click.argument("job_id")
@broker_option
@click.option(
    "--timeout", type=float, default=None, help="Give up after this many seconds (says so; exit 1)."
)
@click.option(
    "--progress/--no-progress", default=None, help="Show a live bar [default: when stdout is a terminal]."
)
@click.pass_context
@handle_errors
def wait(
    ctx: click.Context, job_id: str, broker: str | None, timeout: float | None, progress: bool | None
) -> None:
    """Wait for a job to finish; writes its output if the workers have not."""
    from producer.client import job_status, wait_job
    from producer.joblist import not_taken, waiting_note
    from producer.progress import LiveProgress

    settings = settings_for(ctx, broker)
    first = job_status(settings, job_id)
    if not_taken(first):
        click.echo(waiting_note(first, count_workers(settings)), err=True)
    stdout = sys.stdout
    live = LiveProgress(stdout) if (stdout.isatty() if progress is None else progress) else None
    try:
        st = wait_job(settings, job_id, timeout=timeout, on_progress=live)
    finally:
        if live:
            live.close()
    if timeout is not None and not st.state.is_finished:
        click.echo(f"timed out after {timeout:g} s; the job is still {st.state.value}", err=True)
    exit_for(st)


@click.command()
@click.argument("job_id")
@broker_option
@max_in_flight_option
@click.pass_context
@handle_errors
def resume(ctx: click.Context, job_id: str, broker: str | None, max_in_flight: int) -> None:
    """Queue again the chunks of JOB_ID whose results are missing (works after Redis lost it)."""
    from producer.recovery import resume_job

    done = resume_job(settings_for(ctx, broker), job_id, max_in_flight=max_in_flight)
    if done.already_complete:
        click.echo(f"job {job_id} is already complete")
        return
    how = "rebuilt from its manifest and parts; " if done.rebuilt else ""
    click.echo(f"job {job_id}: {how}queued {done.queued} of {done.chunks} chunks")


@click.command()
@click.argument("job_id")
@broker_option
@click.pass_context
@handle_errors
def cancel(ctx: click.Context, job_id: str, broker: str | None) -> None:
    """Stop JOB_ID: remaining chunks are skipped and no output file is written."""
    from producer.recovery import cancel_job

    before = cancel_job(settings_for(ctx, broker), job_id)
    if not before.is_finished:
        click.echo(f"job {job_id} cancelled; its output is incomplete and was not written")
    else:
        click.echo(f"job {job_id} had already ended: {before.value}")


@click.command()
@broker_option
@click.option("--limit", "-n", type=click.IntRange(1), default=20, show_default=True, help="Most jobs shown.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per job.")
@click.pass_context
@handle_errors
def jobs(ctx: click.Context, broker: str | None, limit: int, as_json: bool) -> None:
    """List the most recent jobs Redis knows: state, progress and output, newest first."""
    from producer.joblist import job_row, list_jobs

    found = list_jobs(settings_for(ctx, broker), limit)
    for st in found:
        if as_json:
            click.echo(json.dumps(job_row(st)))
        else:
            click.echo(describe_status(st))
    if not found and not as_json:
        click.echo("no jobs", err=True)


def count_workers(settings: Any) -> int:
    """Workers answering a ping now (bounded to about a second)."""
    from producer.joblist import workers_online

    return workers_online(settings)


COMMANDS: list[click.Command] = [run, submit, status, wait, resume, cancel, jobs]
