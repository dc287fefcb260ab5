"""Outputs that are files: a local `.jsonl`/`.parquet` path, or an fsspec URL (s3://, file://, ...).

Distributed jobs write one part file per chunk (`<output>.parts/chunk-00000042.jsonl`), each
written whole through `nlpbatch.storage.write_bytes`: under a temporary name and renamed on a
local disk or a renaming file system, one PUT of the final object on an object store. The
parts are merged in chunk order when the last one lands, and the folder is removed.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nlpbatch import storage
from nlpbatch.errors import OutputError
from nlpbatch.outputs.base import Output
from nlpbatch.outputs.records import RecordWriter, jsonl_bytes, output_format, read_records
from nlpbatch.schema import Record
from nlpbatch.tasks import TaskSpec

CANCELLED_NOTE = "CANCELLED"
PART_PREFIX = "chunk-"


class FileOutput(Output):
    """What a local file and a URL share: the parts folder beside the output, merging, reading."""

    @property
    def parts(self) -> str | Path:
        """The folder where the per-chunk parts wait to be merged."""
        return storage.with_suffix_added(self.target, ".parts")

    def part_location(self, index: int) -> str | Path:
        """Where chunk `index`'s part is written."""
        return storage.join(self.parts, f"{PART_PREFIX}{index:08d}.jsonl")

    def write_part(self, index: int, records: list[Record]) -> None:
        storage.write_bytes(self.part_location(index), jsonl_bytes(records))

    @abstractmethod
    def _part_names(self) -> list[str]:
        """The names of the files in the parts folder."""

    def done_parts(self) -> set[int]:
        if not storage.is_dir(self.parts):
            return set()
        names = [n for n in self._part_names() if n.startswith(PART_PREFIX)]
        stems = [n.removesuffix(".jsonl").split("-")[-1] for n in names]
        return {int(s) for s in stems if s.isdigit()}

    def read_part(self, index: int) -> list[Record]:
        return list(read_records(self.part_location(index)))

    def merge(
        self,
        spec: TaskSpec,
        n_chunks: int,
        *,
        keep_parts: bool = False,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.check_complete(n_chunks, "merge")
        with self.writer(spec, params) as writer:
            for index in range(n_chunks):
                writer.write(read_records(self.part_location(index)))
        if not keep_parts:
            storage.remove_tree(self.parts)

    def read(self, n_chunks: int) -> Iterator[Record]:
        return read_records(self.target)

    @property
    def report_location(self) -> str | Path:
        return storage.with_suffix_added(self.target, ".report.json")

    def write_manifest(self, data: bytes) -> None:
        storage.write_bytes(storage.join(self.parts, "job.json"), data)

    def merged(self) -> bool:
        return storage.is_file(self.target) and not storage.is_dir(self.parts)

    def writer(self, spec: TaskSpec, params: dict[str, Any] | None = None) -> RecordWriter:
        return RecordWriter(self.target, spec, params=params)


class LocalOutput(FileOutput):
    """A path on this machine's file system (or a mount every worker shares)."""

    @property
    def parts(self) -> Path:
        return Path(super().parts)

    def check(self) -> Path:
        out = Path(self.target).expanduser().absolute()
        output_format(out)
        if out.is_dir():
            raise OutputError(f"output {out} is a folder; name a file such as {out}/results.jsonl")
        parent = out.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {parent}: {exc.strerror}") from None
        if not os.access(parent, os.W_OK):
            raise OutputError(f"output folder {parent} is not writable")
        return out

    def check_safe(self) -> None:
        if not self.target or not Path(self.target).is_absolute():
            raise OutputError(f"chunk output must be an absolute path or a URL, got {self.target!r}")
        output_format(self.target)

    def _part_names(self) -> list[str]:
        return [p.name for p in self.parts.glob(f"{PART_PREFIX}*.jsonl")]

    def note_cancelled(self, note: str | None) -> None:
        path = self.parts / CANCELLED_NOTE
        if note is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(note, encoding="utf-8")


class UrlOutput(FileOutput):
    """An fsspec URL; on object stores the job's state in Redis is the only CANCELLED mark."""

    @classmethod
    def claims(cls, output: str | Path) -> bool:
        return storage.is_url(output)

    def check(self) -> str:
        output_format(self.target)
        storage.check_writable(str(self.target))
        return str(self.target)

    def check_safe(self) -> None:
        output_format(self.target)

    def _part_names(self) -> list[str]:
        return [storage.name_of(url) for url, _ in storage.list_files(str(self.parts))]
