"""Outputs and their parts get the mode the umask gives (0644 under 022), as any file a user writes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from nlpbatch import storage
from nlpbatch.outputs import open_output
from nlpbatch.outputs.records import RecordWriter
from nlpbatch.tasks import get_task
from producer.cli import main

EMBED = get_task("embed")
RECORDS = [{"id": 1, "embedding": [0.5, 0.25]}, {"id": 2, "embedding": [1.0, 2.0]}]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.mark.parametrize("name", ["out.jsonl", "out.parquet"])
def test_an_output_written_to_a_path_gets_the_mode_of_the_umask(
    tmp_path: Path, umask: int, name: str
) -> None:
    out = tmp_path / name
    with RecordWriter(out, EMBED) as w:
        w.write(RECORDS)
    assert mode_of(out) == 0o666 & ~umask


def test_an_output_written_to_a_file_url_gets_the_mode_of_the_umask(tmp_path: Path, umask: int) -> None:
    out = tmp_path / "url" / "out.jsonl"
    with RecordWriter(f"file://{out}", EMBED) as w:
        w.write(RECORDS)
    assert mode_of(out) == 0o666 & ~umask


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_parts_and_the_merged_output_get_the_mode_of_the_umask(
    tmp_path: Path, umask: int, as_url: bool
) -> None:
    out = tmp_path / "merged.jsonl"
    output = open_output(f"file://{out}" if as_url else str(out))
    output.write_part(0, RECORDS[:1])
    output.write_part(1, RECORDS[1:])
    parts = sorted((tmp_path / "merged.jsonl.parts").iterdir())
    assert [mode_of(p) for p in parts] == [0o666 & ~umask] * 2
    output.merge(EMBED, 2)
    assert mode_of(out) == 0o666 & ~umask


def test_write_bytes_gives_the_mode_of_the_umask(tmp_path: Path, umask: int) -> None:
    storage.write_bytes(tmp_path / "a.json", b"{}")
    storage.write_bytes(f"file://{tmp_path}/b.json", b"{}")
    assert mode_of(tmp_path / "a.json") == mode_of(tmp_path / "b.json") == 0o666 & ~umask


def test_run_writes_its_output_and_report_with_the_mode_of_the_umask(
    corpus: Path, tiny_bert: Path, tmp_path: Path, umask: int
) -> None:
    out = tmp_path / "run.jsonl"
    result = CliRunner().invoke(
        main, ["run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert mode_of(out) == 0o666 & ~umask
    assert mode_of(tmp_path / "run.jsonl.report.json") == 0o666 & ~umask
