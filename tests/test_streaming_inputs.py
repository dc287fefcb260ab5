"""Inputs are streamed: reading the first documents reads the start of a file, never all of it."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nlpbatch import storage
from producer.chunking import chunked
from producer.readers import FieldMap, expand_inputs, iter_documents


class _Budget(io.RawIOBase):
    """A file that fails once more than `limit` bytes of it have been read, as a huge file
    would fail a reader that loads it whole; seeks are free, as on a real file."""

    def __init__(self, path: str, limit: int) -> None:
        self.file = open(path, "rb")
        self.limit, self.read_bytes = limit, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self.file.readinto(buffer)
        self.read_bytes += n or 0
        if self.read_bytes > self.limit:
            raise OSError(f"read {self.read_bytes} bytes, more than the {self.limit} allowed")
        return n or 0

    def close(self) -> None:
        self.file.close()
        super().close()


@pytest.fixture
def budget(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], list[_Budget]]:
    """budget(limit): every input opened from now on fails past `limit` bytes read."""
    opened: list[_Budget] = []

    def arm(limit: int) -> list[_Budget]:
        def open_read(target: str | Path) -> IO[bytes]:
            path = str(target).removeprefix("file://")
            opened.append(_Budget(path, limit))
            return io.BufferedReader(opened[-1])

        monkeypatch.setattr(storage, "open_read", open_read)
        return opened

    return arm


def first_ten(path: str) -> list[dict]:
    return next(chunked(iter_documents(expand_inputs([path]), FieldMap()), 10))


@pytest.mark.parametrize("suffix", [".txt", ".jsonl", ".ndjson", ".csv"])
def test_the_first_documents_of_a_large_file_need_only_its_first_bytes(
    tmp_path: Path, suffix: str, budget: Callable[[int], list[_Budget]]
) -> None:
    f = tmp_path / f"big{suffix}"
    jsonl = '{{"id": "{i}", "text": "document {i}"}}'
    line = {".txt": "document {i}", ".csv": '{i},"document {i}"'}.get(suffix, jsonl)
    with f.open("w") as fh:
        fh.write("id,text\n" if suffix == ".csv" else "")
        for i in range(50_000):
            fh.write(line.format(i=i) + "\n")
    assert f.stat().st_size > 600_000
    opened = budget(64 * 1024)
    docs = first_ten(str(f))
    assert [d["text"] for d in docs] == [f"document {i}" for i in range(10)]
    assert opened and opened[0].read_bytes <= 64 * 1024


def test_a_parquet_file_is_read_one_row_group_at_a_time(
    tmp_path: Path, budget: Callable[[int], list[_Budget]]
) -> None:
    f = tmp_path / "big.parquet"
    texts = [f"document {i} " + format(i * 2654435761 % 2**32, "x") * 8 for i in range(60_000)]
    pq.write_table(pa.table({"id": [str(i) for i in range(60_000)], "text": texts}), f, row_group_size=5_000)
    size = f.stat().st_size
    assert size > 1_000_000
    # A file:// URL goes through the same opener as remote inputs.
    opened = budget(size // 4)
    docs = first_ten(f"file://{f}")
    assert [d["text"] for d in docs] == texts[:10] and [d["id"] for d in docs] == [str(i) for i in range(10)]
    assert opened and opened[0].read_bytes <= size // 4


@pytest.mark.parametrize(
    ("input_format", "ids"),
    [
        ("csv", ["1", "2"]),
        ("txt", ["<stdin>:1", "<stdin>:2", "<stdin>:3"]),
        (None, ["<stdin>:1", "<stdin>:2", "<stdin>:3"]),
    ],
)
def test_input_format_says_how_stdin_is_read(
    monkeypatch: pytest.MonkeyPatch, input_format: str | None, ids: list[str]
) -> None:
    data = b'id,text\n1,"good, very good"\n2,bad\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    docs = list(iter_documents(expand_inputs(["-"], stdin_format=input_format), FieldMap()))
    assert [d["id"] for d in docs] == ids
    if input_format == "csv":
        assert [d["text"] for d in docs] == ["good, very good", "bad"]
    else:  # text, as told or as guessed (it does not start with "{"): one document a line
        assert [d["text"] for d in docs] == data.decode().splitlines()
