"""Inputs and outputs on fsspec URLs: memory:// in this process, file:// like a shared mount."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from nlpbatch.outputs import open_output
from nlpbatch.outputs.records import RecordWriter, read_records
from nlpbatch.tasks import get_task
from producer.cli import main

EMBED = get_task("embed")


@pytest.fixture
def memfs() -> Iterator[fsspec.AbstractFileSystem]:
    fs = fsspec.filesystem("memory")
    yield fs
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")


def put_jsonl(fs: fsspec.AbstractFileSystem, path: str, rows: list[dict]) -> None:
    fs.pipe_file(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_run_reads_a_folder_url_and_writes_a_url_output_in_input_order(
    memfs: fsspec.AbstractFileSystem, tiny_bert: Path
) -> None:
    put_jsonl(memfs, "/corpus/a.jsonl", [{"id": "a1", "text": "good"}, {"id": "a2", "text": "bad"}])
    put_jsonl(memfs, "/corpus/sub/b.jsonl", [{"text": "fine"}])
    memfs.pipe_file("/corpus/notes.md", b"not a corpus file")
    code, stdout, stderr = invoke(
        "run", "memory://corpus", "-t", "sentiment", "-m", str(tiny_bert), "-o", "memory://out/s.jsonl"
    )
    assert code == 0, stdout + stderr
    records = list(read_records("memory://out/s.jsonl"))
    assert [r["id"] for r in records] == ["a1", "a2", "memory://corpus/sub/b.jsonl:1"]
    assert all(r["label"] in {"POSITIVE", "NEGATIVE"} for r in records)
    # No temporary object left behind; the job report sits beside the output.
    assert sorted(memfs.ls("/out", detail=False)) == ["/out/s.jsonl", "/out/s.jsonl.report.json"]


def test_parquet_inputs_and_outputs_work_on_urls(memfs: fsspec.AbstractFileSystem, tiny_bert: Path) -> None:
    import pyarrow as pa

    with memfs.open("/in/docs.parquet", "wb") as fh:
        pq.write_table(pa.table({"id": ["x", "y"], "body": ["good movie", "bad film"]}), fh)
    code, stdout, stderr = invoke(
        "run", "memory://in/*.parquet", "--text-field", "body", "-t", "embed", "-m", str(tiny_bert),
        "-o", "memory://out/e.parquet",
    )  # fmt: skip
    assert code == 0, stdout + stderr
    with memfs.open("/out/e.parquet", "rb") as fh:
        table = pq.read_table(fh)
    assert table.column("id").to_pylist() == ["x", "y"] and len(table.column("embedding")[0].as_py()) == 32


def test_a_url_output_does_not_exist_until_the_writer_closes_cleanly(
    memfs: fsspec.AbstractFileSystem,
) -> None:
    writer = RecordWriter("memory://out/e.jsonl", EMBED)
    writer.write([{"id": 1, "embedding": [0.5]}])
    assert not memfs.exists("/out/e.jsonl")
    writer.abort()
    assert not memfs.exists("/out/e.jsonl")
    with RecordWriter("memory://out/e.jsonl", EMBED) as w:
        w.write([{"id": 1, "embedding": [0.5]}])
    assert list(read_records("memory://out/e.jsonl")) == [{"id": 1, "embedding": [0.5]}]


def test_parts_on_a_file_url_merge_in_order_with_no_temporary_files_left(tmp_path: Path) -> None:
    output = open_output(f"file://{tmp_path}/shared/out.jsonl")
    output.write_part(1, [{"id": "c"}])
    output.write_part(0, [{"id": "a"}, {"id": "b"}])
    output.write_part(0, [{"id": "a"}, {"id": "b"}])  # a redelivered chunk still leaves one part
    assert output.done_parts() == {0, 1}
    assert sorted(p.name for p in (tmp_path / "shared" / "out.jsonl.parts").iterdir()) == [
        "chunk-00000000.jsonl",
        "chunk-00000001.jsonl",
    ]
    output.merge(EMBED, 2)
    assert [p.name for p in (tmp_path / "shared").iterdir()] == ["out.jsonl"]
    assert [r["id"] for r in read_records(tmp_path / "shared" / "out.jsonl")] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("inputs", "output", "message"),
    [
        ("nosuchproto://bucket/in.jsonl", "out.jsonl", "nosuchproto"),
        ("memory://nowhere/in.jsonl", "out.jsonl", "input memory://nowhere/in.jsonl does not exist"),
        (None, "nosuchproto://bucket/out.jsonl", "nosuchproto"),
        (None, "memory://bucket/out.csv", "unknown output extension '.csv'"),
    ],
)
def test_unusable_urls_are_refused_before_any_work(
    inputs: str | None, output: str, message: str, corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    code, _, stderr = invoke(
        "run", inputs or str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", output
    )
    assert code == 2 and message in stderr
