"""Whether a checkpoint has the head a task needs, read from its config.json `architectures`.

transformers loads a missing head with random weights and only logs a warning, so a job run
on, say, a bare `BertModel` would give confident but meaningless labels. This is checked from
the config file alone, without importing transformers.
"""

from __future__ import annotations

import json
from pathlib import Path

from nlpbatch.errors import UnknownModel

# A task's model head (its export task) -> the class name ending transformers gives that head.
HEADS = {
    "text-classification": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
    "question-answering": "ForQuestionAnswering",
}


def architectures(folder: Path) -> list[str]:
    """The classes the checkpoint's config.json names; empty when it names none or is unreadable."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    names = config.get("architectures") if isinstance(config, dict) else None
    return [str(n) for n in names] if isinstance(names, list) else []


def check_head(task: str, export_task: str, folder: Path) -> None:
    """UnknownModel when the checkpoint names its architectures and none has the task's head."""
    head = HEADS.get(export_task)
    names = architectures(folder)
    if head is None or not names or any(n.endswith(head) for n in names):
        return
    raise UnknownModel(
        f"task {task} needs a model with a *{head} head; this checkpoint is a {', '.join(names)}, "
        f"which has none (a random head would be used). Use a checkpoint fine-tuned for {task}"
    )
