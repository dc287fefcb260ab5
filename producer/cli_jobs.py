"""`nlpbatch resume` and `nlpbatch cancel`: carry on or stop a distributed job."""

from __future__ import annotations

import click

from nlpbatch.jobstore import JobState
from producer.cli import broker_option, handle_errors, settings_for


@click.command()
@click.argument("job_id")
@broker_option
@click.option("--max-in-flight", default=64, show_default=True, help="Most chunks waiting in Redis at once.")
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
    if before in (JobState.QUEUING, JobState.RUNNING):
        click.echo(f"job {job_id} cancelled; its output is incomplete and was not written")
    else:
        click.echo(f"job {job_id} had already ended: {before.value}")


JOB_COMMANDS: list[click.Command] = [resume, cancel]
