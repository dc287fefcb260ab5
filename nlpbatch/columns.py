"""The columns of a job's output, decided by the task and the job's parameters, not the data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nlpbatch.passages import PASSAGE_FIELDS, passage_job
from nlpbatch.tasks import TaskSpec

#: Tasks whose `predictions` exist only for some `top_k` (as their pipelines write them).
_PREDICTIONS_WHEN: dict[str, Callable[[Any], bool]] = {
    "sentiment": lambda top_k: top_k != 1,
    "qa": lambda top_k: top_k is not None and top_k > 1,
}


def output_fields(spec: TaskSpec, params: dict[str, Any] | None = None) -> dict[str, str]:
    """The fields a job's records can have, by name and kind: decided by its parameters, so
    every part of a job has one schema and no column is null in every row.

    Without `params`, every field the task can ever write (`embed`: one record per document;
    its passage records need the job's `passages`).
    """
    fields = dict(spec.output_fields)
    when = _PREDICTIONS_WHEN.get(spec.name)
    if params is not None and when is not None:
        top_k = params.get("top_k", spec.params["top_k"].default)
        if not when(top_k):
            del fields["predictions"]
    # `windows` is written only by a job that scores long texts window by window.
    if params is not None and "windows" in fields and params.get("long", "truncate") != "window":
        del fields["windows"]
    # `embed` with `passages` writes one record per passage: where it is, then its vector.
    if spec.name == "embed" and passage_job(params):
        assert params is not None
        text = {"text": "string"} if params.get("passage_text") else {}
        fields = {**PASSAGE_FIELDS, **text, **fields}
    return fields
