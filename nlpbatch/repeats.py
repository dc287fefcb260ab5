"""Counting the ids that repeat in a job's input, as its chunks stream past the producer or `run`.

Records keep their input order and every document gets its own record, so a repeated id is
not an error; but a join on id downstream would mix the documents up, so the job report
says how many ids repeat, with the first few.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from nlpbatch.schema import ChunkMessage

#: Repeated ids named in the report.
EXAMPLES = 5


class RepeatedIds:
    """Ids seen more than once, counted over the documents of the chunks it is shown."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._repeated: set[str] = set()
        self._extra = 0
        self._examples: dict[str, int] = {}  # the first repeated ids -> how often each came

    def add(self, docs: Iterable[dict[str, Any]]) -> None:
        """Count these documents' ids (ids 7 and "7" are one id, as in a Parquet output)."""
        for doc in docs:
            key = str(doc.get("id"))
            if key not in self._seen:
                self._seen.add(key)
                continue
            self._extra += 1
            if key not in self._repeated:
                self._repeated.add(key)
                if len(self._examples) < EXAMPLES:
                    self._examples[key] = 1
            if key in self._examples:
                self._examples[key] += 1

    def count(self, messages: Iterable[ChunkMessage]) -> Iterator[ChunkMessage]:
        """The messages, unchanged, counting their documents' ids on the way."""
        for msg in messages:
            self.add(msg.docs)
            yield msg

    def summary(self) -> dict[str, Any] | None:
        """{ids, extra_documents, examples: [{id, times}]}, or None when every id is unique."""
        if not self._repeated:
            return None
        return {
            "ids": len(self._repeated),
            "extra_documents": self._extra,
            "examples": [{"id": key, "times": times} for key, times in self._examples.items()],
        }


def describe_repeats(repeats: dict[str, Any] | None) -> str:
    """One line for the end of `run` and `wait`; "" when no id repeats."""
    if not repeats:
        return ""
    shown = ", ".join(f"{e['id']!r} x{e['times']}" for e in repeats["examples"])
    more = ", ..." if repeats["ids"] > len(repeats["examples"]) else ""
    return (
        f"repeated ids: {repeats['ids']} ids name more than one document "
        f"({repeats['extra_documents']} documents beyond the first of each), e.g. {shown}{more}; "
        "every document still has its own record, in input order "
        "(--id-field none names each by file:line)"
    )
