"""A folder output: one Parquet (or JSONL) file per chunk and a manifest, read as one table in order."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from nlpbatch.errors import OutputError
from nlpbatch.outputs import open_output
from nlpbatch.outputs.dataset import DatasetOutput
from nlpbatch.tasks import get_task
from producer.cli import main

SENTIMENT = get_task("sentiment")


def records(index: int) -> list[dict]:
    return [{"id": f"c{index}-{n}", "label": "POSITIVE", "score": 0.5 + index / 100} for n in range(3)]


def test_parts_written_out_of_order_read_back_as_one_table_in_input_order(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    output = open_output(f"{folder}/")
    assert isinstance(output, DatasetOutput)
    output.check()
    output.write_manifest(json.dumps({"job_id": "j1", "task": "sentiment", "model": "m"}).encode())
    # 12 chunks, so that "part-10" would sort before "part-2" without the zero padding.
    for index in [11, 3, 0, 10, 2, 1, 9, 4, 8, 5, 7, 6]:
        output.write_part(index, records(index))
    output.merge(SENTIMENT, 12)

    expected = [r["id"] for i in range(12) for r in records(i)]
    assert ds.dataset(folder, format="parquet").to_table().column("id").to_pylist() == expected
    frame = pd.read_parquet(folder)
    columns = ["id", *SENTIMENT.output_fields, "error"]
    assert list(frame["id"]) == expected and list(frame.columns) == columns
    assert [r["id"] for r in output.read(12)] == expected

    manifest = json.loads((folder / "_nlpbatch.json").read_text())
    assert manifest["job_id"] == "j1" and manifest["task"] == "sentiment" and manifest["model"] == "m"
    assert manifest["counts"] == [3] * 12 and manifest["records"] == 36
    assert [f["name"] for f in manifest["schema"]] == columns
    assert output.merged()


def test_every_part_has_the_same_schema_even_a_chunk_of_errors_only(tmp_path: Path) -> None:
    output = open_output(f"{tmp_path}/out/")
    assert isinstance(output, DatasetOutput)
    output.with_task(SENTIMENT)
    output.write_part(0, records(0))
    output.write_part(1, [{"id": "x", "error": {"type": "InputError", "message": "empty"}}])
    output.write_part(2, [])
    schemas = {str(pq.read_schema(p)) for p in sorted((tmp_path / "out").glob("part-*"))}
    assert len(schemas) == 1
    table = ds.dataset(tmp_path / "out").to_table()
    assert table.column("id").to_pylist() == ["c0-0", "c0-1", "c0-2", "x"]


def test_the_dataset_is_not_finished_until_every_part_and_the_manifest_are_there(tmp_path: Path) -> None:
    output = open_output(f"{tmp_path}/out/").with_task(SENTIMENT)  # type: ignore[attr-defined]
    output.write_part(0, records(0))
    output.write_part(2, records(2))
    with pytest.raises(OutputError, match="1 chunk"):
        output.merge(SENTIMENT, 3)
    assert not output.merged() and not (tmp_path / "out" / "_nlpbatch.json").exists()


def test_a_folder_that_already_holds_parts_is_refused_before_any_work(tmp_path: Path) -> None:
    output = open_output(f"{tmp_path}/out/").with_task(SENTIMENT)  # type: ignore[attr-defined]
    output.write_part(0, records(0))
    with pytest.raises(OutputError, match="already holds parts"):
        open_output(f"{tmp_path}/out/").check()


@pytest.mark.parametrize(
    ("how", "part"),
    [(["-o", "{out}/"], "parquet"), (["-o", "{out}", "--output-format", "jsonl-dataset"], "jsonl")],
)
def test_run_writes_one_part_per_chunk_and_the_manifest_last(
    corpus: Path, tiny_bert: Path, tmp_path: Path, how: list[str], part: str
) -> None:
    out = tmp_path / "reviews"
    args = [a.format(out=out) for a in how]
    result = CliRunner().invoke(
        main,
        ["run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), *args, "--chunk-size", "3"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stdout
    folder = out if part == "parquet" else tmp_path / "reviews.jsonl"
    assert sorted(p.name for p in folder.glob("part-*")) == [f"part-{i:08d}.{part}" for i in range(3)]
    manifest = json.loads((folder / "_nlpbatch.json").read_text())
    assert manifest["counts"] == [3, 3, 1] and manifest["task"] == "sentiment"
    ids = [r["id"] for r in open_output(f"{folder}/").read(3)]
    assert ids == [f"d{i}" for i in range(7)]
    assert (folder / "_report.json").is_file()


@pytest.mark.parametrize(("top_k", "has_predictions"), [(1, False), (3, True)])
def test_a_worker_s_parts_take_their_columns_from_the_job_s_parameters(
    tmp_path: Path, top_k: int, has_predictions: bool
) -> None:
    folder = tmp_path / "out"
    job = {"job_id": "j1", "task": "sentiment", "model": "m", "params": {"top_k": top_k}}
    open_output(f"{folder}/").write_manifest(json.dumps(job).encode())
    worker_side = open_output(f"{folder}/")  # as a worker opens it: only the job copy says more
    worker_side.write_part(0, records(0))
    names = pq.read_schema(folder / "part-00000000.parquet").names
    assert ("predictions" in names) is has_predictions


def test_a_dataset_with_kept_fields_reads_back_in_order_with_duckdb_and_datasets(
    tiny_bert: Path, tmp_path: Path
) -> None:
    """One part per document: 13 parts, so `part-10` would sort before `part-2` unpadded; the
    last holds only the error record of a malformed line, and has the kept columns too."""
    import datasets
    import duckdb

    rows = [
        {"id": f"r{i}", "text": f"review {i} , i love it", "title": f"t{i}", "stars": i % 5}
        for i in range(12)
    ]
    source = tmp_path / "reviews.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    out = tmp_path / "rated"
    result = CliRunner().invoke(
        main,
        ["run", str(source), "-t", "sentiment", "-m", str(tiny_bert), "-o", f"{out}/", "--chunk-size", "1",
         "--keep-fields", "title,stars", "--quiet"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ids = [r["id"] for r in rows] + [f"{source}:13"]
    titles = [r["title"] for r in rows] + [None]
    stars = [str(r["stars"]) for r in rows] + [None]  # strings as read, other values as JSON text

    table = duckdb.sql(f"SELECT id, title, stars, label FROM read_parquet('{out}/part-*.parquet')")
    got = table.fetchall()
    assert [(i, t, s) for i, t, s, _ in got] == list(zip(ids, titles, stars, strict=True))
    assert {label for *_, label in got[:12]} <= {"POSITIVE", "NEGATIVE"} and got[12][3] is None

    loaded = datasets.load_dataset(
        "parquet", data_files=f"{out}/part-*.parquet", split="train", cache_dir=str(tmp_path / "hf")
    )
    assert loaded["id"] == ids and loaded["title"] == titles and loaded["stars"] == stars
    assert loaded.column_names == ["id", "title", "stars", "label", "score", "error"]
    assert ds.dataset(out, format="parquet").to_table().column("title").to_pylist() == titles
