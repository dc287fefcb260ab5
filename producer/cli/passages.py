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
    """`params` with the passage flags given (`--passages N` is `-p passages=N`, ...) set in them."""
    from nlpbatch.passages import with_passage_options

    return with_passage_options(task, params, kw, PASSAGE_FLAGS)
