"""Output files appear whole or not at all, in JSONL or Parquet, in input order."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nlpbatch.errors import OutputError
from nlpbatch.outputs import open_output
from nlpbatch.outputs.files import LocalOutput
from nlpbatch.outputs.records import RecordWriter, read_records
from nlpbatch.tasks import get_task

EMBED = get_task("embed")


def test_a_failed_job_leaves_no_output_and_no_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError), RecordWriter(out, EMBED) as w:
        w.write([{"id": 1, "embedding": [0.5]}])
        raise RuntimeError("crash mid-job")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_replaced_only_when_the_new_one_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    w = RecordWriter(out, EMBED)
    w.write([{"id": 1, "embedding": [0.5]}])
    assert out.read_text() == "old\n"  # still the old file while writing
    w.close()
    assert list(read_records(out)) == [{"id": 1, "embedding": [0.5]}]


def test_parquet_stores_embeddings_as_float32_lists_and_errors_as_structs(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    with RecordWriter(out, EMBED) as w:
        w.write([{"id": 1, "embedding": [0.25, 0.5]}, {"id": "b", "error": {"type": "X", "message": "m"}}])
    table = pq.read_table(out)
    assert table.schema.field("embedding").type == pa.list_(pa.float32())
    assert table.to_pylist() == [
        {"id": "1", "embedding": [0.25, 0.5], "error": None},
        {"id": "b", "embedding": None, "error": {"type": "X", "message": "m"}},
    ]


def test_parts_merge_in_chunk_order_and_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    output = LocalOutput(out)
    output.write_part(1, [{"id": "c"}])
    output.write_part(0, [{"id": "a"}, {"id": "b"}])
    output.write_part(0, [{"id": "a"}, {"id": "b"}])  # a chunk done twice still counts once
    output.merge(EMBED, 2)
    assert [r["id"] for r in read_records(out)] == ["a", "b", "c"]
    assert not output.parts.exists()


def test_merging_with_a_missing_part_refuses_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    output = open_output(out)
    output.write_part(0, [{"id": "a"}])
    with pytest.raises(OutputError, match="1 chunk"):
        output.merge(EMBED, 2)
    assert not out.exists()


@pytest.mark.parametrize("name", ["out.csv", "out", "out.json"])
def test_an_output_with_an_unknown_extension_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(OutputError, match="unknown output extension"):
        open_output(tmp_path / name).check()


def test_a_part_whose_write_fails_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = LocalOutput(tmp_path / "out.jsonl")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("nlpbatch.storage.os.fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        output.write_part(0, [{"id": "a"}])
    assert list(output.parts.iterdir()) == []
    assert output.done_parts() == set()


def test_jsonl_writes_embeddings_at_float32_precision_smaller_and_reading_back_the_same_float32(
    tmp_path: Path,
) -> None:
    import json

    import numpy as np

    vectors = np.random.default_rng(0).standard_normal((20, 64)).astype(np.float32)
    records = [{"id": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]  # as the pipeline gives
    out = tmp_path / "out.jsonl"
    with RecordWriter(out, EMBED) as w:
        w.write(records)
    float64_digits = "".join(json.dumps(r) + "\n" for r in records)
    assert out.stat().st_size < 0.75 * len(float64_digits.encode())
    back = np.array([r["embedding"] for r in read_records(out)], dtype=np.float32)
    assert np.array_equal(back, vectors)
    assert [r["id"] for r in read_records(out)] == list(range(20))


def test_float32_lists_that_are_not_numbers_are_written_as_they_are(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with RecordWriter(out, EMBED) as w:
        w.write([{"id": 1, "error": {"type": "X", "message": "m"}}, {"id": 2, "embedding": [0.5, None]}])
    assert list(read_records(out)) == [
        {"id": 1, "error": {"type": "X", "message": "m"}},
        {"id": 2, "embedding": [0.5, None]},
    ]
