"""The interface every output store implements: check, write parts, list, merge, read back.

A submitted job's workers each write one chunk's records as a part (`write_part`, atomic in
the store's own sense); when the last chunk lands, `merge` puts them together in chunk order.
`resume` lists what is written (`written_parts`); scripts and `nlpbatch results` read the
records back (`read`). `run` writes a whole output at once through `writer`, where the store
can hold one (`runnable`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from nlpbatch.errors import OutputError
from nlpbatch.outputs.records import RecordWriter
from nlpbatch.schema import Record
from nlpbatch.tasks import TaskSpec

#: A zero-argument callable giving a client on the broker's Redis, for stores that keep
#: results there; called only when such a store needs it.
RedisFactory = Callable[[], Any]


class Output(ABC):
    """Where a job's records go: one subclass per store, picked by `nlpbatch.outputs.open_output`."""

    #: `run` can write the whole output here in one go.
    runnable = True
    #: The results wait in the broker's Redis for `nlpbatch results` to write them to a file.
    drainable = False
    #: The output is a folder of parts, which `nlpbatch results` can write out as one file.
    partitioned = False

    def __init__(
        self, target: str | Path, *, job_id: str | None = None, redis: RedisFactory | None = None
    ) -> None:
        self.target = target
        self.job_id = job_id
        self._redis = redis

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.target)!r})"

    @classmethod
    def claims(cls, output: str | Path) -> bool:
        """True when this store holds outputs written like `output`."""
        return False

    @abstractmethod
    def check(self) -> str | Path:
        """The output as the job records it, after checking it can be written; else OutputError."""

    @abstractmethod
    def check_safe(self) -> None:
        """OutputError unless a worker may write here, for an output read from a chunk message."""

    def check_size(self, documents: Callable[[], Iterable[Any]], *, from_stdin: bool) -> None:
        """OutputError if the store cannot hold this many documents."""
        return None  # a file holds any number

    @abstractmethod
    def write_part(self, index: int, records: list[Record]) -> None:
        """Store one chunk's records whole; writing the same chunk twice keeps one copy."""

    @abstractmethod
    def done_parts(self) -> set[int]:
        """Indexes of the chunks whose records are written."""

    @abstractmethod
    def read_part(self, index: int) -> list[Record]:
        """One written chunk's records."""

    def check_complete(self, n_chunks: int, doing: str) -> None:
        """OutputError naming what is missing unless parts 0..n_chunks-1 are all written."""
        missing = sorted(set(range(n_chunks)) - self.done_parts())
        if missing:
            raise OutputError(
                f"cannot {doing} {self.target}: {len(missing)} chunk(s) missing, first {missing[0]}"
            )

    def written_parts(self) -> Iterator[tuple[int, list[Record]]]:
        """(chunk index, its records) of every chunk written, by index."""
        for index in sorted(self.done_parts()):
            yield index, self.read_part(index)

    @abstractmethod
    def merge(
        self,
        spec: TaskSpec,
        n_chunks: int,
        *,
        keep_parts: bool = False,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Put parts 0..n_chunks-1 together in order as the job's output; every part must exist.

        `params`, the job's, choose the output's columns (see nlpbatch.columns).
        """

    @abstractmethod
    def read(self, n_chunks: int) -> Iterator[Record]:
        """A finished job's records in input order."""

    @property
    def report_location(self) -> str | Path | None:
        """Where the job report is saved beside the output; None where it has no file."""
        return None

    def write_manifest(self, data: bytes) -> None:
        """Keep a copy of the job's manifest beside its parts, where the store has a place for it."""
        return None  # the copy under NLPBATCH_HOME/jobs/ is the only one

    def note_cancelled(self, note: str | None) -> None:
        """Leave a CANCELLED note beside the parts (None removes it), where the store has a place."""
        return None  # the job's state in Redis is the only mark

    def merged(self) -> bool:
        """True when the job's parts were merged into the output and cleaned up."""
        return False

    def drain(self) -> None:
        """Drop results kept for reading later, once they are written elsewhere."""
        return None  # nothing is kept apart from the output itself

    def writer(self, spec: TaskSpec, params: dict[str, Any] | None = None) -> RecordWriter:
        """A writer of the whole output, for `run`; OutputError where the store cannot hold one."""
        raise OutputError(f"{self.target} cannot be written in one go")
