"""What every `nlpbatch` command shares: error handling, options, settings and parameters.

Commands import from here, never from each other. Every error ends the same way: one line
`nlpbatch: error: ...` on stderr and exit code 1 (a failure, or a service unreachable) or
2 (a usage or job error found before any work started).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from nlpbatch import defaults
from nlpbatch.backends import BACKENDS
from nlpbatch.errors import BrokerError, JobError, NlpbatchError
from nlpbatch.jobstate import JobState, JobStatus
from nlpbatch.settings import Settings
from producer.cli.passages import passage_options, with_passage_flags

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int) -> NoReturn:
    """Print `message` as nlpbatch's one-line error and exit with `code`."""
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
    """The `--broker` option of every command that talks to Redis."""
    return click.option(
        "--broker",
        default=None,
        help=f"Redis URL of the broker [env NLPBATCH_BROKER_URL; default {defaults.BROKER_URL}]",
    )(fn)


def backend_option(fn: F) -> F:
    """The `--backend` option of `run` and `worker`."""
    return click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default="auto",
        show_default=True,
        help="Model runtime: auto picks ONNX Runtime on CPU and PyTorch on a GPU; openvino runs "
        "the encoder tasks with OpenVINO on CPU (install nlpbatch[openvino]).",
    )(fn)


def max_in_flight_option(fn: F) -> F:
    """The `--max-in-flight` option of the commands that queue chunks."""
    return click.option(
        "--max-in-flight",
        default=defaults.MAX_IN_FLIGHT,
        show_default=True,
        help="Most chunks waiting in Redis at once.",
    )(fn)


def job_options(fn: F) -> F:
    """The options that define a job, shared by `run` and `submit`."""
    options = [
        click.argument("inputs", nargs=-1, required=True),
        click.option("--task", "-t", required=True, help="Task name or alias (see `nlpbatch tasks`)."),
        click.option("--model", "-m", default=None, help="Local folder or hub id [default: the task's]."),
        click.option(
            "--output",
            "-o",
            required=True,
            help="Output file: .jsonl or .parquet; a folder (DIR/) writes one Parquet file per chunk.",
        ),
        click.option(
            "--output-format",
            default=None,
            type=click.Choice(["parquet-dataset", "jsonl-dataset"]),
            help="Write the output as a folder of one file per chunk plus _nlpbatch.json.",
        ),
        click.option(
            "--text-field", default="text", show_default=True, help="Input column holding the text."
        ),
        click.option(
            "--id-field", default="id", show_default=True, help="Input column of the id; none: file:line."
        ),
        click.option(
            "--no-header", is_flag=True, help="CSV/TSV has no header: fields are column numbers, from 1."
        ),
        click.option(
            "--field",
            "field_pairs",
            multiple=True,
            metavar="FIELD=COLUMN",
            help="Read the task's FIELD from input COLUMN, e.g. question=q (repeatable).",
        ),
        click.option(
            "--keep-fields",
            default=None,
            metavar="A,B|all",
            help="Input columns to copy into every record, or `all`.",
        ),
        click.option(
            "--chunk-size",
            default=defaults.CHUNK_SIZE,
            show_default=True,
            type=int,
            help="Documents per chunk.",
        ),
        click.option(
            "--param", "-p", "param_pairs", multiple=True, help="Task parameter key=value (repeatable)."
        ),
        click.option("--params", "params_file", default=None, help="JSON file of task parameters."),
        *passage_options(),
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
            default=defaults.GATE_DOCS,
            show_default=True,
            help="The job's first documents the int8 gate compares.",
        ),
        click.option(
            "--gate-max-docs",
            type=click.IntRange(1),
            default=defaults.GATE_MAX_DOCS,
            show_default=True,
            help="Most documents the gate reads while its 95% interval holds the threshold.",
        ),
        click.option(
            "--limit", type=click.IntRange(1), default=None, help="Only the first N documents of the input."
        ),
        click.option(
            "--max-errors",
            default=None,
            metavar="N|P%",
            help="Fail the job past N error records, or P% of the documents done [default: no limit].",
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Check the job, count documents and chunks, estimate tokens and time; run nothing.",
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


def build_job(kw: dict[str, Any], **run_options: Any) -> Any:
    """The job that `job_options` describe (and `run`'s own options), checked by `prepare_job`."""
    from producer.job import prepare_job

    return prepare_job(
        task=kw["task"],
        model=kw["model"],
        inputs=kw["inputs"],
        output=kw["output"],
        output_format=kw.get("output_format"),
        params=with_passage_flags(kw["task"], parse_params(kw["param_pairs"], kw["params_file"]), kw),
        precision=kw["precision"],
        text_field=kw["text_field"],
        id_field=kw["id_field"],
        chunk_size=kw["chunk_size"],
        stdin_format=kw["input_format"],
        field_map=parse_pairs(kw.get("field_pairs") or (), "--field"),
        keep_fields=parse_keep(kw.get("keep_fields")),
        limit=kw.get("limit"),
        max_errors=kw.get("max_errors"),
        no_header=kw["no_header"],
        gate_threshold=kw["gate_threshold"],
        gate_docs=kw["gate_docs"],
        gate_max_docs=kw["gate_max_docs"],
        **run_options,
    )


def parse_pairs(pairs: Sequence[str], hint: str) -> dict[str, str]:
    """`name=value` strings as a dict; a pair without `=` is a usage error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise click.BadParameter(f"expected FIELD=COLUMN, got {pair!r}", param_hint=hint)
        out[key.strip()] = value.strip()
    return out


def parse_keep(value: str | None) -> tuple[str, ...]:
    """`a,b` or `all` as a tuple of column names."""
    return tuple(name.strip() for name in (value or "").split(",") if name.strip())


def load_settings(**flags: Any) -> Settings:
    """Settings from the environment and the flags given (None: not given); a bad value: usage error."""
    try:
        return Settings.from_env(**flags)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def settings_for(ctx: click.Context, broker: str | None = None, **flags: Any) -> Settings:
    """The settings of this invocation: flags over `NLPBATCH_*` variables over defaults.

    The main group builds them once (`ctx.obj`); a command's own flags go on top.
    """
    base = ctx.find_root().obj
    if not isinstance(base, Settings):  # a command called without the main group
        base = load_settings()
    given = {k: v for k, v in {"broker_url": broker, **flags}.items() if v is not None}
    return replace(base, **given)


def describe_status(status: JobStatus) -> str:
    """One line: a job's state, progress and output."""
    total = "?" if status.chunks_total is None else str(status.chunks_total)
    return (
        f"job {status.job_id}: {status.state.value}, {status.chunks_done}/{total} chunks, "
        f"{status.docs_done} documents, {status.errors} errors; output {status.manifest.get('output')}"
    )


def exit_for(status: JobStatus) -> None:
    """Print how a job ended; exit 1 unless it is done."""
    from nlpbatch.report import describe

    click.echo(describe_status(status))
    if status.reason:
        click.echo(f"why: {status.reason}")
    if status.report:
        click.echo(describe(status.report))
    if status.state is not JobState.DONE:
        sys.exit(1)
