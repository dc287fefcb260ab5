"""`--passages`, `--overlap`, `--passage-text`: the `embed` passage parameters as flags of `run`/`submit`."""

from __future__ import annotations

from typing import Any

import click


def passage_options() -> list[Any]:
    """The flags, for `job_options`."""
    return [
        click.option(
            "--passages",
            type=click.IntRange(1),
            default=None,
            metavar="N",
            help="embed: cut each document into passages of at most N tokens, one record each "
            "(-p passages=N).",
        ),
        click.option(
            "--overlap",
            type=click.IntRange(0),
            default=None,
            metavar="M",
            help="embed --passages: tokens shared by consecutive passages (-p overlap=M).",
        ),
        click.option(
            "--passage-text",
            is_flag=True,
            default=None,
            help="embed --passages: add each passage's text to its record (-p passage_text=true).",
        ),
    ]


#: The passage flags of `job_options`, by the `embed` parameter each one sets.
PASSAGE_FLAGS = {"passages": "--passages", "overlap": "--overlap", "passage_text": "--passage-text"}


def with_passage_flags(task: str, params: dict[str, Any], kw: dict[str, Any]) -> dict[str, Any]:
    """`params` with the passage flags given (`--passages N` is `-p passages=N`, ...) set in them.

    InvalidParameter (exit 2) for a flag on a task other than `embed`, or a flag and the same
    parameter given with `-p`/`--params` with different values.
    """
    from nlpbatch.errors import InvalidParameter, UnknownTask
    from nlpbatch.tasks import get_task

    given = {name: kw.get(name) for name in PASSAGE_FLAGS if kw.get(name) is not None}
    if not given:
        return params
    flags = " ".join(PASSAGE_FLAGS[name] for name in given)
    try:
        spec = get_task(task)
    except UnknownTask:
        return params  # the job's own check names the unknown task
    if spec.name != "embed":
        raise InvalidParameter(f"{flags} works with task 'embed' only, not {spec.name!r}")
    out = dict(params)
    for name, value in given.items():
        if name in params and spec.params[name].coerce(name, params[name]) != value:
            raise InvalidParameter(
                f"{PASSAGE_FLAGS[name]} {value} and parameter {name}={params[name]} disagree; give one"
            )
        out[name] = value
    return out
