"""The worker side's commands: `nlpbatch worker` and `nlpbatch models export|list|rm`.

They are added to the `nlpbatch` group through the `nlpbatch.commands` entry points in
pyproject.toml (see `producer.cli`), so the producer never imports worker modules.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from nlpbatch import defaults
from nlpbatch.backends import check_backend
from nlpbatch.settings import redact_url
from producer.cli.helpers import backend_option, broker_option, handle_errors, settings_for


@click.command()
@broker_option
@click.option("--concurrency", "-c", default=1, show_default=True, help="Worker processes.")
@click.option(
    "--threads", type=int, default=None, help="Model threads per process [default: cores / concurrency]."
)
@backend_option
@click.option(
    "--loglevel", default="INFO", show_default=True, help="Celery's log level (DEBUG, INFO, WARNING)."
)
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

    check_backend(backend)  # `openvino` without its extra: fail now, not on the first chunk
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
@click.option("--task", "-t", required=True, help="Task name or alias (see `nlpbatch tasks`).")
@click.option(
    "--precision",
    default="fp32",
    show_default=True,
    type=click.Choice(["fp32", "int8"]),
    help="int8 also exports fp32, which it is quantized from.",
)
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


@models.command("tune")
@click.argument("model")
@click.option("--task", "-t", required=True, help="Task name or alias (see `nlpbatch tasks`).")
@click.option(
    "--docs",
    "docs",
    default=None,
    help="Documents to measure on, in any input format `run` reads (best: the corpus's own) "
    "[default: a built-in sample of English sentences, for tasks that read `text` alone].",
)
@click.option(
    "--threads", type=int, default=None, help="Model threads, as the jobs will run [default: every core]."
)
@backend_option
@click.option("--gate-threshold", type=float, default=None, help="The pass mark [default: the task's].")
@click.option(
    "--gate-docs",
    type=click.IntRange(min=1),
    default=defaults.GATE_DOCS,
    show_default=True,
    help="Documents the gate reads first (more, up to 2,048, while its interval holds the pass mark).",
)
@click.pass_context
@handle_errors
def tune(
    ctx: click.Context,
    model: str,
    task: str,
    docs: str | None,
    threads: int | None,
    backend: str,
    gate_threshold: float | None,
    gate_docs: int,
) -> None:
    """Measure MODEL's fp32 and int8 for TASK on this machine and keep the verdict.

    `--precision auto` jobs with the same model, task, parameters, threads and backend on a
    machine with the same CPU and libraries then reuse it instead of running the int8 gate.
    """
    from worker.tuning import describe_verdict, tune_model

    settings = settings_for(ctx)
    check_backend(backend, task)
    gate = tune_model(
        settings, model, task, docs=docs, threads=threads, backend=backend,
        threshold=gate_threshold, gate_docs=gate_docs,
    )  # fmt: skip
    click.echo(describe_verdict(gate))


@models.command("list")
@click.pass_context
def list_models(ctx: click.Context) -> None:
    """List the cached exports (model, task, precision, size, folder) and the kept verdicts."""
    from worker.models.cache import cached_exports
    from worker.tuning import kept_verdicts

    cache = settings_for(ctx).onnx_dir
    exports = cached_exports(cache)
    if not exports:
        click.echo(f"no exports in {cache}")
    else:
        rows: list[tuple[str, ...]] = [("MODEL", "TASK", "PRECISION", "SIZE", "FOLDER")]
        rows += [(e.model, e.task, e.precision, _size(e.size), str(e.folder)) for e in exports]
        _table(rows)
    verdicts = kept_verdicts(cache)
    if verdicts:
        click.echo("")
        click.echo("VERDICTS (--precision auto on this home's machines)")
        rows = [("MODEL", "TASK", "CHOSEN", "INT8 SPEED", "ACCURACY", "CPU", "MEASURED")]
        for verdict in verdicts:
            key, gate = verdict.get("key", {}), verdict.get("gate", {})
            speed = f"{gate['speedup']:.2f}x fp32" if gate.get("speedup") else "-"
            value = gate.get("value")
            accuracy = f"{gate.get('metric')} {value:.4f}" if value is not None else "-"
            flags = " ".join(f for f in key.get("cpu", {}).get("flags", []) if "vnni" in f or "amx" in f)
            cpu = f"{key.get('cpu', {}).get('model', '?')} {flags}".strip()
            rows.append((str(key.get("model")), str(key.get("task")), str(gate.get("precision")), speed,
                         accuracy, cpu, str(verdict.get("measured_at", ""))))  # fmt: skip
        _table(rows)


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])


def _size(size: float) -> str:
    """Bytes as B, KB, MB or GB (powers of 1024), as `ls -h` shows them."""
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@models.command("rm")
@click.argument("model", required=False)
@click.option("--all", "remove_all", is_flag=True, help="Remove every cached export.")
@click.pass_context
@handle_errors
def remove(ctx: click.Context, model: str | None, remove_all: bool) -> None:
    """Remove MODEL's cached exports (every task and precision), or --all of them."""
    from worker.models.cache import cached_exports, remove_exports

    if (model is None) == (not remove_all):
        raise click.UsageError("name a MODEL or give --all (not both)")
    cache = settings_for(ctx).onnx_dir
    exports = cached_exports(cache)
    chosen = exports if remove_all else [e for e in exports if model is not None and e.matches(model)]
    if model is not None and not chosen:
        known = ", ".join(sorted({e.model for e in exports})) or "none"
        raise click.UsageError(f"no cached export of {model!r}; cached: {known}")
    remove_exports(cache, chosen)
    for export in chosen:
        click.echo(f"removed {export.model} {export.task} {export.precision} ({export.folder})")
