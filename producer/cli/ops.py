"""Operations commands: `schedule` (Celery beat), `results` (drain Redis) and `tasks`."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from nlpbatch.errors import InputError
from nlpbatch.jobstate import JobState
from nlpbatch.tasks import COMMON_PARAMS, TASKS
from producer.cli.helpers import broker_option, handle_errors, settings_for


@click.command()
@click.option("--config", "config_path", required=True, help="The schedule file (TOML).")
@broker_option
@click.option("--check", is_flag=True, help="Check the file, list its entries, and exit.")
@click.option("--run-now", "run_now", default=None, metavar="ENTRY", help="Run one entry at once and exit.")
@click.option("--loglevel", default="INFO", show_default=True, help="Celery beat's log level.")
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
            sys.exit(1)  # the entry ran and its job did not finish; its line above says how
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
    """Write a job's results kept in Redis (or a dataset folder) to a file, in input order.

    Results in Redis are dropped from Redis afterwards unless --keep.
    """
    from producer.drain import drain_results

    count, out = drain_results(settings_for(ctx, broker), job_id, output, keep=keep)
    click.echo(f"{count} records -> {out}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as one JSON object.")
def tasks(as_json: bool) -> None:
    """List the tasks with their inputs, parameters and default models."""
    if as_json:
        out = {
            name: {
                "aliases": list(spec.aliases),
                "input_fields": list(spec.input_fields),
                "optional_fields": list(spec.optional_fields),
                "params": {
                    k: {"type": p.type, "default": p.default, "help": p.help} for k, p in spec.params.items()
                },
                "default_model": spec.default_model,
                "output_fields": spec.output_fields,
            }
            for name, spec in TASKS.items()
        }
        click.echo(json.dumps(out, indent=2))
        return
    for name, spec in TASKS.items():
        click.echo(f"{name}  (aliases: {', '.join(spec.aliases)})")
        click.echo(f"  {spec.description}")
        fields = ", ".join(spec.input_fields) + "".join(f", [{f}]" for f in spec.optional_fields)
        click.echo(f"  inputs: {fields}   outputs: {', '.join(spec.output_fields)}")
        click.echo(f"  default model: {spec.default_model}")
        for pname, p in spec.params.items():
            choices = f" ({'|'.join(map(str, p.choices))})" if p.choices else ""
            click.echo(f"  --param {pname}={p.default}{choices}  {p.help}")
        click.echo("")
    click.echo("every task also takes: " + ", ".join(f"{k}={p.default}" for k, p in COMMON_PARAMS.items()))


COMMANDS: list[click.Command] = [schedule, results, tasks]
