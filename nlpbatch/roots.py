"""Where a worker may write outputs and read models: NLPBATCH_OUTPUT_ROOTS, NLPBATCH_MODEL_ROOTS.

Anyone who can push to the Redis list can name any output or model in a chunk message, so a
worker checks both against its roots before it reads the message's documents. Local paths
are resolved first (`os.path.realpath`), so neither `..` nor a symlink leads out of a root;
URLs must start with a root URL and hold no `..` segment. No roots: everything is allowed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nlpbatch import storage

# os.pathsep separates roots, except where it is a URL's `scheme://`.
_SEPARATORS = re.compile(rf",|{re.escape(os.pathsep)}(?!//)")


def parse_roots(raw: str) -> tuple[str, ...]:
    """The roots of a comma- or os.pathsep-separated list, blanks dropped."""
    return tuple(part.strip() for part in _SEPARATORS.split(raw) if part.strip())


def within(target: str, roots: tuple[str, ...]) -> bool:
    """Whether `target` (a path or URL) lies under one of `roots`; True when there are none."""
    if not roots:
        return True
    if storage.is_url(target):
        if ".." in target.split("://", 1)[1].split("/"):
            return False
        return any(storage.is_url(r) and target.startswith(r.rstrip("/") + "/") for r in roots)
    real = os.path.realpath(os.path.expanduser(target))
    for root in roots:
        if storage.is_url(root):
            continue
        base = os.path.realpath(os.path.expanduser(root))
        if os.path.commonpath([real, base]) == base:
            return True
    return False


def is_local_model(ref: str) -> bool:
    """Whether a model reference names a folder on this machine, rather than a packaged or hub model."""
    return ref.startswith(("/", "./", "../", "~")) or Path(ref).expanduser().exists()


def refusal(
    output: str, model: str, output_roots: tuple[str, ...], model_roots: tuple[str, ...]
) -> str | None:
    """Why a chunk naming `output` and `model` is outside the roots; None if it is inside."""
    if not output.startswith("redis://") and not output.startswith("rediss://"):
        if not within(output, output_roots):
            return f"output {output!r} is outside NLPBATCH_OUTPUT_ROOTS ({', '.join(output_roots)})"
    if is_local_model(model) and not within(model, model_roots):
        return f"model {model!r} is outside NLPBATCH_MODEL_ROOTS ({', '.join(model_roots)})"
    return None
