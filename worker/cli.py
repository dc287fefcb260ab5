"""The worker side's commands, `nlpbatch worker` and `nlpbatch models export`.

They are added to the `nlpbatch` group through the `nlpbatch.commands` entry points in
pyproject.toml (see `producer.cli`), so the producer never imports worker modules.
"""

from __future__ import annotations

import click

from nlpbatch import defaults
from nlpbatch.settings import redact_url
from producer.cli.helpers import broker_option, handle_errors, settings_for


@click.command()
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
    default=None,
    help="Serve Prometheus metrics on this port [env NLPBATCH_METRICS_PORT; default: off].",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds after SIGTERM to finish the chunks in hand before returning them to the queue "
    "(0: wait however long they take) "
    f"[env NLPBATCH_SHUTDOWN_TIMEOUT; default: {defaults.SHUTDOWN_TIMEOUT:g}].",
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
    shutdown_timeout: float | None,
) -> None:
    """Start a Celery worker that processes queued chunks."""
    from worker.main import run_worker

    settings = settings_for(
        ctx, broker, threads=threads, metrics_port=metrics_port, shutdown_timeout=shutdown_timeout
    )
    if settings.shutdown_timeout < 0:
        raise click.BadParameter("must be 0 or more", param_hint="NLPBATCH_SHUTDOWN_TIMEOUT")
    if settings.log_format != "json":  # JSON logs carry the same line from run_worker
        click.echo(f"nlpbatch worker on {redact_url(settings.broker_url)}", err=True)
    run_worker(settings, concurrency=concurrency, loglevel=loglevel, backend=backend, name=name)


@click.group()
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
    from nlpbatch.tasks import get_task
    from worker import local

    spec = get_task(task)
    folder = local.export(model, task, precision, settings_for(ctx))
    if folder is None:
        click.echo(f"{spec.name} uses only the tokenizer: nothing to export")
        return
    click.echo(str(folder))
