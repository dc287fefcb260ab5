"""The int8 gate's options: what the producer asks for and the engine's gate reads."""

from __future__ import annotations

from dataclasses import dataclass

from nlpbatch import defaults


@dataclass(frozen=True)
class GateOptions:
    """How the int8 gate compares int8 with fp32 on a job's first documents.

    `threshold` None: the task's own pass mark (0.99 for label agreement and cosine).
    """

    threshold: float | None = None
    docs: int = defaults.GATE_DOCS
    max_docs: int = defaults.GATE_MAX_DOCS
