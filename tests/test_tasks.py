"""Task names, aliases and parameters are checked before any work starts."""

from __future__ import annotations

import pytest

from nlpbatch.errors import InvalidParameter, UnknownTask
from nlpbatch.tasks import ALIASES, TASKS, get_task
from worker.pipelines import PIPELINES


def test_every_task_has_a_pipeline_and_every_pipeline_a_task() -> None:
    assert set(TASKS) == set(PIPELINES)
    for name, cls in PIPELINES.items():
        assert get_task(cls.task).name == name


def test_transformers_aliases_resolve_to_nlpbatch_tasks() -> None:
    assert get_task("text-classification").name == "sentiment"
    assert get_task("feature-extraction").name == "embed"
    assert all(get_task(alias).name == task for alias, task in ALIASES.items())


def test_an_unknown_task_names_the_valid_ones() -> None:
    with pytest.raises(UnknownTask, match=r"unknown task 'sentimant'; valid tasks: .*embed.*sentiment"):
        get_task("sentimant")


def test_parameters_are_coerced_from_strings_and_defaults_filled_in() -> None:
    params = get_task("embed").validate_params({"normalize": "false", "batch_size": "8"})
    assert params["normalize"] is False and params["batch_size"] == 8 and params["pooling"] == "mean"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"poolin": "mean"}, r"unknown parameter\(s\) poolin for task 'embed'; valid: .*pooling"),
        ({"pooling": "median"}, "must be one of: mean, cls, max"),
        ({"batch_size": "many"}, "expects int"),
        ({"normalize": "perhaps"}, "expects bool"),
    ],
)
def test_bad_parameters_are_refused_with_the_reason(raw: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        get_task("embed").validate_params(raw)
