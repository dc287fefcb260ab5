"""The contract between producer and worker: chunk messages and result records.

A chunk message carries up to `chunk_size` documents of one job. Each document is a dict
with an `id` and the task's input fields (`text`, `text_pair`, `question`, ...), or an `id`
and an `error` when the producer could not read it. Every document yields exactly one
result record: `{"id": ..., **task_fields}` or `{"id": ..., "error": {"type", "message"}}`;
`embed` with `passages` yields one per passage instead (see nlpbatch.passages).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nlpbatch.errors import MessageError

SCHEMA_VERSION = 1

Doc = dict[str, Any]
Record = dict[str, Any]

#: A document's input fields to copy into its record (`--keep-fields`), under this key.
KEPT = "kept"


@dataclass(frozen=True)
class ChunkMessage:
    """One unit of work: a slice of a job's corpus, in input order."""

    job_id: str
    index: int
    task: str
    model: str
    docs: list[Doc]
    params: dict[str, Any] = field(default_factory=dict)
    precision: str = "fp32"
    output: str = ""
    version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict, as it travels through the broker."""
        return asdict(self)

    @classmethod
    def decode(cls, data: Any) -> ChunkMessage:
        """Build a message from its dict form; any defect raises MessageError."""
        if not isinstance(data, dict):
            raise MessageError(f"chunk message must be an object, got {type(data).__name__}")
        if data.get("version") != SCHEMA_VERSION:
            raise MessageError(f"unsupported chunk message version {data.get('version')!r}")
        try:
            msg = cls(**data)
        except TypeError as exc:
            raise MessageError(f"malformed chunk message: {exc}") from None
        checks = [
            (isinstance(msg.job_id, str) and msg.job_id != "", "job_id"),
            (isinstance(msg.index, int) and msg.index >= 0, "index"),
            (isinstance(msg.task, str), "task"),
            (isinstance(msg.model, str), "model"),
            (isinstance(msg.params, dict), "params"),
            (isinstance(msg.docs, list) and all(isinstance(d, dict) and "id" in d for d in msg.docs), "docs"),
        ]
        bad = [name for ok, name in checks if not ok]
        if bad:
            raise MessageError(f"malformed chunk message: bad field(s) {', '.join(bad)}")
        return msg


def error_record(doc_id: Any, error: dict[str, str]) -> Record:
    """The record for a document that could not be processed."""
    return {"id": doc_id, "error": error}


def without_kept(docs: list[Doc]) -> tuple[list[Doc], list[dict[str, Any] | None]]:
    """(the documents as the task sees them, each one's kept input fields or None)."""
    kept = [d.get(KEPT) for d in docs]
    if not any(k is not None for k in kept):
        return docs, kept
    return [{k: v for k, v in d.items() if k != KEPT} for d in docs], kept


def with_kept(records: list[Record], kept: list[dict[str, Any] | None]) -> list[Record]:
    """Records with their document's kept fields after the id; the task's own fields win."""
    return [r if k is None else {"id": r.get("id"), **k, **r} for r, k in zip(records, kept, strict=True)]
