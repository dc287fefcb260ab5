"""`--dry-run`: what a job would do (documents, chunks, tokens, time), without doing it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nlpbatch import defaults
from nlpbatch.errors import JobError
from nlpbatch.modelref import resolve
from producer.job import JobSpec


def _tokenizer(model: str) -> Any:
    """The model's fast tokenizer from its tokenizer.json, or None when it is not here.

    The `tokenizers` package alone reads it: transformers would bring in torch.
    """
    try:
        folder = resolve(model, download=False).path
    except JobError:  # a hub model not in the cache: no estimate, not an error
        return None
    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        return None
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def dry_run(job: JobSpec, *, sample: int = defaults.DRY_RUN_SAMPLE) -> dict[str, Any]:
    """Count the job's documents and chunks and estimate its tokens and time; nothing is written."""
    texts: list[str] = []
    docs = errors = 0
    for doc in job.documents():
        docs += 1
        if "error" in doc:
            errors += 1
        elif len(texts) < sample:
            texts.append(" ".join(str(v) for k, v in doc.items() if k != "id" and isinstance(v, str)))
    plan: dict[str, Any] = {
        "task": job.task,
        "model": job.model,
        "output": job.output,
        "documents": docs,
        "unreadable": errors,
        "chunks": math.ceil(docs / job.chunk_size),
        "chunk_size": job.chunk_size,
        "tokens_estimate": None,
        "seconds_estimate": None,
        "tokens_per_second_assumed": defaults.DRY_RUN_TOKENS_PER_SECOND,
    }
    tokenizer = _tokenizer(job.model) if texts else None
    if tokenizer is not None:
        per_doc = sum(len(e.ids) for e in tokenizer.encode_batch(texts)) / len(texts)
        tokens = round(per_doc * (docs - errors))
        plan["tokens_estimate"] = tokens
        plan["sample_documents"] = len(texts)
        plan["seconds_estimate"] = round(tokens / defaults.DRY_RUN_TOKENS_PER_SECOND, 3)
    return plan


def describe_plan(plan: dict[str, Any]) -> str:
    """The plan as the lines `--dry-run` prints."""
    lines = [
        f"dry run: the job is valid; nothing was run, written or queued ({plan['task']}, {plan['model']})",
        f"documents: {plan['documents']} ({plan['unreadable']} unreadable), "
        f"chunks: {plan['chunks']} of {plan['chunk_size']}",
    ]
    if plan["tokens_estimate"] is None:
        lines.append("tokens: no estimate (the model's tokenizer.json is not on this machine)")
    else:
        lines.append(
            f"tokens: about {plan['tokens_estimate']} (estimated from {plan['sample_documents']} documents)"
        )
        lines.append(
            f"time: about {plan['seconds_estimate']} s of model work at an assumed "
            f"{plan['tokens_per_second_assumed']} tokens/s (an estimate from the token count only; "
            "time a real run with --limit)"
        )
    return "\n".join(lines)
