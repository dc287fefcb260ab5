"""What the engine hands back: a chunk's records with what they took, and the int8 gate's decision."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nlpbatch.schema import ChunkMessage, Record


@dataclass(frozen=True)
class Runtime:
    """What ran a chunk: the backend, the precision and the model threads."""

    backend: str
    precision: str
    threads: int


@dataclass(frozen=True)
class ChunkResult:
    """One chunk's records, in its order, and what computing them took."""

    index: int
    records: list[Record]
    tokens: int
    padded_tokens: int
    runtime: Runtime
    seconds: float
    #: Documents whose records came precomputed (the int8 gate's), their tokens included above.
    reused: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for r in self.records if "error" in r)


@dataclass(frozen=True)
class Precomputed:
    """Records of some documents of a chunk, computed before it ran (by the int8 gate).

    `records` are by position in the chunk, without the kept fields; `tokens` and
    `padded_tokens` are what computing them took.
    """

    records: dict[int, Record]
    tokens: int = 0
    padded_tokens: int = 0


@dataclass
class Decision:
    """The precision the int8 gate chose, its figures, and the records it computed in it.

    `messages` are all the job's chunk messages, those the gate read ahead first, each
    carrying the chosen precision; `computed[index]` the gate's records of chunk `index`.
    """

    precision: str
    gate: Any  # worker.gate.GateResult, or None when no gate ran
    messages: Iterator[ChunkMessage]
    computed: dict[int, Precomputed] = field(default_factory=dict)

    def take(self, index: int) -> Precomputed | None:
        """The gate's records of chunk `index`, handed out once; None if it computed none."""
        return self.computed.pop(index, None)
