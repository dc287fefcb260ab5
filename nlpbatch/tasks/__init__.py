"""Task specifications: names, aliases, input fields, parameters and output fields.

This is the light half of a task, read by the producer to validate a job before anything is
queued and by `nlpbatch tasks` to document it; it imports neither torch nor onnxruntime nor
transformers. The heavy half (the pipeline class, with its model head and int8 comparison)
lives in `worker.pipelines`, keyed by the same names.
"""

from __future__ import annotations

from nlpbatch.errors import UnknownTask
from nlpbatch.tasks.classification import SENTIMENT, ZERO_SHOT
from nlpbatch.tasks.generation import GENERATE, SUMMARIZE, TRANSLATE
from nlpbatch.tasks.params import COMMON_PARAMS, Param, did_you_mean
from nlpbatch.tasks.qa import QA
from nlpbatch.tasks.spec import GenerationSpec, TaskSpec
from nlpbatch.tasks.tokens import FILL_MASK, NER, TOKENIZE
from nlpbatch.tasks.vectors import EMBED, SIMILARITY

__all__ = [
    "ALIASES",
    "COMMON_PARAMS",
    "GENERATION_TASKS",
    "TASKS",
    "GenerationSpec",
    "Param",
    "TaskSpec",
    "get_task",
]

GENERATION_TASKS = (SUMMARIZE, TRANSLATE, GENERATE)
#: In the order `nlpbatch tasks` lists them.
TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (SENTIMENT, EMBED, NER, QA, SIMILARITY, FILL_MASK, ZERO_SHOT, TOKENIZE, *GENERATION_TASKS)
}
ALIASES: dict[str, str] = {alias: spec.name for spec in TASKS.values() for alias in spec.aliases}


def get_task(name: str) -> TaskSpec:
    """The spec for a task name or alias; UnknownTask lists the valid names."""
    canonical = ALIASES.get(name, name)
    if canonical not in TASKS:
        names = sorted(TASKS) + sorted(f"{a} (= {t})" for a, t in ALIASES.items())
        raise UnknownTask(
            f"unknown task {name!r}; valid tasks: {', '.join(names)}{did_you_mean(name, [*TASKS, *ALIASES])}"
        )
    return TASKS[canonical]
