"""Operations commands: `nlpbatch schedule` (Celery beat) and `nlpbatch results` (drain Redis)."""

from __future__ import annotations

import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from nlpbatch.errors import InputError, OutputError
from nlpbatch.jobstore import JobState
from nlpbatch.results import delete, is_redis_output, iter_results
from nlpbatch.sinks import RecordWriter, check_output
from nlpbatch.tasks import get_task
from producer.cli import broker_option, handle_errors, settings_for


@click.command()
@click.option("--config", "config_path", required=True, help="The schedule file (TOML).")
@broker_option
@click.option("--check", is_flag=True, help="Check the file, list its entries, and exit.")
@click.option("--run-now", "run_now", default=None, metavar="ENTRY", help="Run one entry at once and exit.")
@click.option("--loglevel", default="INFO", show_default=True)
@click.pass_context
@handle_errors
def schedule(
    ctx: click.Context, config_path: str, broker: str | None, check: bool, run_now: str | None, loglevel: str
) -> None:
    """Run Celery beat over the entries of a schedule file; each run processes only new documents."""
    from producer.schedule import check_entries, load_config, run_entry

    config = load_config(config_path)
    settings = settings_for(ctx, broker)
    if check:
        for line in check_entries(config):
            click.echo(line)
        return
    if run_now is not None:
        if run_now not in config.entries:
            raise InputError(f"no entry {run_now!r} in {config_path}; entries: {', '.join(config.entries)}")
        now = datetime.now(ZoneInfo(config.timezone))
        result = run_entry(config.entries[run_now], settings, now=now)
        click.echo(result.describe())
        if result.job_id is not None and result.state != JobState.DONE.value:
            sys.exit(1)
        return
    from producer.beat import run_beat

    click.echo(f"nlpbatch schedule: {len(config.entries)} entries from {config_path}", err=True)
    run_beat(config, settings, loglevel=loglevel)


@click.command()
@click.argument("job_id")
@click.option("--output", "-o", required=True, help="File to write: .jsonl or .parquet (a path or URL).")
@click.option("--keep", is_flag=True, help="Leave the results in Redis after writing them.")
@broker_option
@click.pass_context
@handle_errors
def results(ctx: click.Context, job_id: str, output: str, keep: bool, broker: str | None) -> None:
    """Write a job's results kept in Redis to a file, in input order, then drop them from Redis."""
    from producer.client import connect, job_status

    settings = settings_for(ctx, broker)
    status = job_status(settings, job_id)
    where = status.manifest.get("output", "")
    if not is_redis_output(where):
        raise InputError(f"job {job_id} wrote its results to {where}, not to Redis; read that file")
    if status.state is not JobState.DONE:
        click.echo(
            f"nlpbatch: error: job {job_id} is {status.state.value} "
            f"({status.chunks_done}/{status.chunks_total or '?'} chunks); `nlpbatch wait {job_id}` first",
            err=True,
        )
        sys.exit(1)
    client = connect(settings).r
    out = check_output(output)
    try:
        manifest = status.manifest
        with RecordWriter(out, get_task(manifest["task"]), params=manifest.get("params")) as writer:
            writer.write(iter_results(client, job_id, status.chunks_total or 0))
    except OutputError as exc:
        # Expired or already drained: nothing to write, and the job's state says it is done.
        click.echo(f"nlpbatch: error: {exc}", err=True)
        sys.exit(1)
    if not keep:
        delete(client, job_id)
    click.echo(f"{writer.count} records -> {out}")


OPS_COMMANDS: list[click.Command] = [schedule, results]
