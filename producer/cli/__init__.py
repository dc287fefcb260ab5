"""The `nlpbatch` command line.

Exit codes: 0 success, 1 the job failed or a service was unreachable, 2 a usage or job
error found before any work started.

The producer's commands are registered here from their modules (`jobs`, `ops`). Commands
that need the worker side (`worker`, `models`) are declared by that side as entry points of
the `nlpbatch.commands` group in pyproject.toml, and loaded only when asked for: a name in
the command list costs nothing, so `nlpbatch submit` never imports worker modules (and with
them onnxruntime or torch), and the producer has no import of the worker to keep in step. An
entry point rather than a table of module paths here, because the worker (or a plugin
installed beside nlpbatch) says what it adds, and the producer need not know its modules.
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points

import click

from nlpbatch import defaults
from nlpbatch.logs import LOG_FORMATS, setup_logging
from producer.cli import jobs, ops
from producer.cli.helpers import load_settings

COMMAND_GROUP = "nlpbatch.commands"


class NlpbatchGroup(click.Group):
    """A click group that adds, on demand, the commands of the `nlpbatch.commands` entry points."""

    def _entry_points(self) -> dict[str, EntryPoint]:
        """The declared commands by name; reading them imports nothing."""
        return {ep.name: ep for ep in entry_points(group=COMMAND_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, registered here or declared as an entry point."""
        return sorted({*super().list_commands(ctx), *self._entry_points()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command `cmd_name`, importing its module only if it is an entry point's."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        ep = self._entry_points().get(cmd_name)
        if ep is None:
            return None
        loaded = ep.load()
        if not isinstance(loaded, click.Command):
            raise TypeError(f"entry point {ep.value} of {COMMAND_GROUP} is not a click command")
        return loaded


@click.group(cls=NlpbatchGroup)
@click.version_option(package_name="nlpbatch", message="nlpbatch %(version)s")
@click.option("--home", default=None, help="Cache and job folder [env NLPBATCH_HOME].")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default=None,
    help=f"Logs as text or as JSON lines [env NLPBATCH_LOG_FORMAT; default: {defaults.LOG_FORMAT}].",
)
@click.pass_context
def main(ctx: click.Context, home: str | None, verbose: bool, log_format: str | None) -> None:
    """Run transformers models over large corpora, in this process or across Celery workers."""
    settings = load_settings(home=home, log_format=log_format)
    if settings.log_format not in LOG_FORMATS:
        raise click.BadParameter(
            f"{settings.log_format!r} is not one of {', '.join(LOG_FORMATS)}",
            param_hint="NLPBATCH_LOG_FORMAT",
        )
    setup_logging(logging.INFO if verbose else logging.WARNING, settings.log_format)
    ctx.obj = settings


for _command in [*jobs.COMMANDS, *ops.COMMANDS]:
    main.add_command(_command)
