"""The `nlpbatch` command line.

Exit codes: 0 success, 1 the job failed or a service was unreachable, 2 a usage or job
error found before any work started.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from nlpbatch.errors import BrokerError, JobError, NlpbatchError
from nlpbatch.jobstore import JobState, JobStatus
from nlpbatch.logs import LOG_FORMATS, setup_logging
from nlpbatch.settings import Settings, redact_url
from nlpbatch.tasks import TASKS

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int) -> None:
    click.echo(f"nlpbatch: error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Turn nlpbatch errors into one-line messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JobError as exc:
            fail(str(exc), 2)
        except BrokerError as exc:
            fail(str(exc), 1)
        except NlpbatchError as exc:
            fail(str(exc), 1)

    return wrapper  # type: ignore[return-value]


def parse_params(pairs: tuple[str, ...], params_file: str | None) -> dict[str, Any]:
    """--params FILE (JSON object), then each --param key=value on top."""
    params: dict[str, Any] = {}
    if params_file:
        try:
            loaded = json.loads(Path(params_file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise click.BadParameter(f"cannot read {params_file}: {exc}", param_hint="--params") from None
        if not isinstance(loaded, dict):
            raise click.BadParameter("must hold a JSON object", param_hint="--params")
        params.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint="--param")
        params[key.strip()] = value
    return params


def broker_option(fn: F) -> F:
    return click.option(
        "--broker",
        envvar="NLPBATCH_BROKER_URL",
        default=None,
        help="Redis URL of the broker [env NLPBATCH_BROKER_URL; default redis://localhost:6379/0]",
    )(fn)


def job_options(fn: F) -> F:
    """The options that define a job, shared by `run` and `submit`."""
    options = [
        click.argument("inputs", nargs=-1, required=True),
        click.option("--task", "-t", required=True, help="Task name or alias (see `nlpbatch tasks`)."),
        click.option("--model", "-m", default=None, help="Local folder or hub id [default: the task's]."),
        click.option("--output", "-o", required=True, help="Output file: .jsonl or .parquet."),
        click.option(
            "--text-field", default="text", show_default=True, help="Input column holding the text."
        ),
        click.option(
            "--id-field", default="id", show_default=True, help="Input column of the id; none: file:line."
        ),
        click.option(
            "--no-header", is_flag=True, help="CSV/TSV has no header: fields are column numbers, from 1."
        ),
        click.option("--chunk-size", default=256, show_default=True, type=int, help="Documents per chunk."),
        click.option(
            "--param", "-p", "param_pairs", multiple=True, help="Task parameter key=value (repeatable)."
        ),
        click.option("--params", "params_file", default=None, help="JSON file of task parameters."),
        click.option(
            "--precision",
            default="fp32",
            show_default=True,
            type=click.Choice(["fp32", "int8", "auto"]),
            help="int8 runs only if the accuracy gate passes (else fp32); auto: int8 when it passes.",
        ),
        click.option(
            "--gate-threshold",
            type=click.FloatRange(0, 1),
            default=None,
            help="int8 pass mark: label agreement or cosine vs fp32 [default: 0.99].",
        ),
        click.option(
            "--gate-docs",
            type=click.IntRange(1),
            default=256,
            show_default=True,
            help="The job's first documents the int8 gate compares.",
        ),
        click.option(
            "--gate-max-docs",
            type=click.IntRange(1),
            default=2048,
            show_default=True,
            help="Most documents the gate reads while its 95% interval holds the threshold.",
        ),
        click.option(
            "--input-format",
            default=None,
            type=click.Choice(["jsonl", "txt", "csv", "tsv"]),
            help="Format of stdin (`-`); guessed when omitted.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def build_job(kw: dict[str, Any]) -> Any:
    from nlpbatch.tasks import get_task
    from producer.job import prepare_job

    model = kw["model"] or get_task(kw["task"]).default_model
    return prepare_job(
        task=kw["task"],
        model=model,
        inputs=kw["inputs"],
        output=kw["output"],
        params=parse_params(kw["param_pairs"], kw["params_file"]),
        precision=kw["precision"],
        text_field=kw["text_field"],
        id_field=kw["id_field"],
        chunk_size=kw["chunk_size"],
        stdin_format=kw["input_format"],
        no_header=kw["no_header"],
    )


@click.group()
@click.option(
    "--home", envvar="NLPBATCH_HOME", default=None, help="Cache and job folder [env NLPBATCH_HOME]."
)
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@click.option(
    "--log-format",
    envvar="NLPBATCH_LOG_FORMAT",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="Logs as text or as JSON lines [env NLPBATCH_LOG_FORMAT].",
)
@click.pass_context
def main(ctx: click.Context, home: str | None, verbose: bool, log_format: str) -> None:
    """Run transformers models over large corpora, in this process or across Celery workers."""
    setup_logging(logging.INFO if verbose else logging.WARNING, log_format)
    ctx.obj = {"home": home, "log_format": log_format}


def settings_for(ctx: click.Context, broker: str | None = None) -> Settings:
    return Settings.from_env(home=ctx.obj["home"], broker_url=broker)


@main.command()
@job_options
@click.option("--threads", type=int, default=None, help="Model threads [default: all cores].")
@click.option("--backend", type=click.Choice(["auto", "onnx", "torch"]), default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@handle_errors
def run(ctx: click.Context, threads: int | None, backend: str, as_json: bool, **kw: Any) -> None:
    """Run a job here, with no Redis and no worker."""
    from nlpbatch.report import describe, report_path
    from producer.run import run_job

    job = build_job(kw)
    report = run_job(
        job,
        settings_for(ctx),
        threads=threads,
        backend=backend,
        gate_threshold=kw["gate_threshold"],
        gate_docs=kw["gate_docs"],
        gate_max_docs=kw["gate_max_docs"],
    )
    if as_json:
        click.echo(json.dumps(report.to_dict()))
        return
    click.echo(describe(report.to_dict()))
    click.echo(f"output: {report.output} (report: {report_path(report.output)})")


@main.command()
@job_options
@broker_option
@click.option("--max-in-flight", default=64, show_default=True, help="Most chunks waiting in Redis at once.")
@click.option("--wait", "wait_after", is_flag=True, help="Wait for the job to finish.")
@click.pass_context
@handle_errors
def submit(ctx: click.Context, broker: str | None, max_in_flight: int, wait_after: bool, **kw: Any) -> None:
    """Queue a job for the workers; prints its id at once."""
    from producer.client import submit_job, wait_job

    job = build_job(kw)
    settings = settings_for(ctx, broker)

    def announce(job_id: str) -> None:
        click.echo(job_id)
        sys.stdout.flush()

    submission = submit_job(
        job,
        settings,
        max_in_flight=max_in_flight,
        on_job_id=announce,
        gate_threshold=kw["gate_threshold"],
        gate_docs=kw["gate_docs"],
        gate_max_docs=kw["gate_max_docs"],
    )
    click.echo(f"queued {submission.chunks} chunks", err=True)
    if wait_after:
        status = wait_job(settings, submission.job_id)
        _exit_for(status)


def _describe(status: JobStatus) -> str:
    total = "?" if status.chunks_total is None else str(status.chunks_total)
    return (
        f"job {status.job_id}: {status.state.value}, {status.chunks_done}/{total} chunks, "
        f"{status.docs_done} documents, {status.errors} errors; output {status.manifest.get('output')}"
    )


def _exit_for(status: JobStatus) -> None:
    from nlpbatch.report import describe

    click.echo(_describe(status))
    if status.reason:
        click.echo(f"why: {status.reason}")
    if status.report:
        click.echo(describe(status.report))
    if status.state is not JobState.DONE:
        sys.exit(1)


@main.command()
@click.argument("job_id")
@broker_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
@handle_errors
def status(ctx: click.Context, job_id: str, broker: str | None, as_json: bool) -> None:
    """Show a job's progress."""
    from producer.client import job_status
    from producer.progress import print_status, status_dict

    st = job_status(settings_for(ctx, broker), job_id)
    if as_json:
        click.echo(json.dumps(status_dict(st)))
    else:
        print_status(st, sys.stdout)


@main.command()
@click.argument("job_id")
@broker_option
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds (exit 1).")
@click.option(
    "--progress/--no-progress", default=None, help="Show a live bar [default: when stdout is a terminal]."
)
@click.pass_context
@handle_errors
def wait(
    ctx: click.Context, job_id: str, broker: str | None, timeout: float | None, progress: bool | None
) -> None:
    """Wait for a job to finish; writes its output if the workers have not."""
    from producer.client import wait_job
    from producer.progress import LiveProgress

    stdout = sys.stdout
    live = LiveProgress(stdout) if (stdout.isatty() if progress is None else progress) else None
    try:
        status = wait_job(settings_for(ctx, broker), job_id, timeout=timeout, on_progress=live)
    finally:
        if live:
            live.close()
    _exit_for(status)


@main.command()
@broker_option
@click.option("--concurrency", "-c", default=1, show_default=True, help="Worker processes.")
@click.option(
    "--threads", type=int, default=None, help="Model threads per process [default: cores / concurrency]."
)
@click.option("--backend", type=click.Choice(["auto", "onnx", "torch"]), default="auto", show_default=True)
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--name", default=None, help="Celery node name [default: nlpbatch-PID@host].")
@click.option(
    "--metrics-port",
    type=int,
    envvar="NLPBATCH_METRICS_PORT",
    default=None,
    help="Serve Prometheus metrics on this port [env NLPBATCH_METRICS_PORT; default: off].",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    envvar="NLPBATCH_SHUTDOWN_TIMEOUT",
    default=20.0,
    show_default=True,
    help="Seconds after SIGTERM to finish the chunks in hand before returning them to the queue "
    "(0: wait however long they take) [env NLPBATCH_SHUTDOWN_TIMEOUT].",
)
@click.pass_context
@handle_errors
def worker(
    ctx: click.Context,
    broker: str | None,
    concurrency: int,
    threads: int | None,
    backend: str,
    loglevel: str,
    name: str | None,
    metrics_port: int | None,
    shutdown_timeout: float,
) -> None:
    """Start a Celery worker that processes queued chunks."""
    from worker.main import run_worker

    settings = settings_for(ctx, broker)
    if ctx.obj["log_format"] != "json":  # JSON logs carry the same line from run_worker
        click.echo(f"nlpbatch worker on {redact_url(settings.broker_url)}", err=True)
    run_worker(
        settings,
        concurrency=concurrency,
        threads=threads,
        loglevel=loglevel,
        backend=backend,
        name=name,
        metrics_port=metrics_port,
        log_format=ctx.obj["log_format"],
        shutdown_timeout=shutdown_timeout,
    )


@main.group()
def models() -> None:
    """Manage the ONNX model cache."""


@models.command("export")
@click.argument("model")
@click.option("--task", "-t", required=True)
@click.option("--precision", default="fp32", show_default=True, type=click.Choice(["fp32", "int8"]))
@click.pass_context
@handle_errors
def export(ctx: click.Context, model: str, task: str, precision: str) -> None:
    """Export MODEL to ONNX for TASK ahead of the first job."""
    from nlpbatch.modelref import resolve
    from nlpbatch.tasks import get_task
    from worker.models.loader import TOKENIZER_ONLY
    from worker.models.store import onnx_model_dir
    from worker.pipelines import pipeline_class

    spec = get_task(task)
    # The head can depend on the model (similarity: cross-encoder or bi-encoder).
    export_task = pipeline_class(task).export_task_for(spec, model, {})
    if export_task == TOKENIZER_ONLY:
        click.echo(f"{spec.name} uses only the tokenizer: nothing to export")
        return
    folder = onnx_model_dir(resolve(model), export_task, precision, settings_for(ctx).onnx_dir)
    click.echo(str(folder))


@main.command()
@click.option("--json", "as_json", is_flag=True)
def tasks(as_json: bool) -> None:
    """List the tasks with their inputs, parameters and default models."""
    from nlpbatch.tasks import COMMON_PARAMS

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


# Commands defined in other modules register here, one line each:
# main.add_command(module.command)
from producer.cli_ops import OPS_COMMANDS  # noqa: E402

for _ops_command in OPS_COMMANDS:
    main.add_command(_ops_command)

from producer.cli_jobs import JOB_COMMANDS  # noqa: E402

for _job_command in JOB_COMMANDS:
    main.add_command(_job_command)
