"""A Parquet output's columns follow the job's parameters: no column is null in every row."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from nlpbatch.outputs import open_output
from nlpbatch.outputs.records import RecordWriter, arrow_schema
from nlpbatch.tasks import get_task
from producer.cli import main

SENTIMENT = get_task("sentiment")
QA = get_task("qa")


@pytest.mark.parametrize(
    ("task", "params", "has_predictions"),
    [
        ("sentiment", {"top_k": 1}, False),
        ("sentiment", {}, False),  # the default, 1
        ("sentiment", {"top_k": 3}, True),
        ("sentiment", {"top_k": None}, True),  # every label
        ("qa", {"top_k": 1}, False),
        ("qa", {"top_k": 2}, True),
        ("fill-mask", {"top_k": 1}, True),  # fill-mask always lists its candidates
    ],
)
def test_predictions_is_a_column_only_when_top_k_asks_for_it(
    task: str, params: dict, has_predictions: bool
) -> None:
    assert ("predictions" in arrow_schema(get_task(task), params).names) is has_predictions


def test_without_params_the_schema_has_every_field_the_task_can_write() -> None:
    assert "predictions" in arrow_schema(SENTIMENT).names


def test_every_part_of_a_job_merges_into_one_schema_of_the_jobs_columns(tmp_path: Path) -> None:
    out = tmp_path / "qa.parquet"
    output = open_output(out)
    output.write_part(0, [{"id": "a", "answer": "x", "score": 0.5, "start": 0, "end": 1}])
    output.write_part(1, [{"id": "b", "error": {"type": "MalformedInput", "message": "b: bad"}}])
    output.merge(QA, 2, params={"top_k": 1})
    table = pq.read_table(out)
    assert table.schema.names == ["id", "answer", "score", "start", "end", "error"]
    assert table.column("answer").to_pylist() == ["x", None]


def test_a_writer_with_top_k_keeps_the_predictions_it_is_given(tmp_path: Path) -> None:
    out = tmp_path / "s.parquet"
    with RecordWriter(out, SENTIMENT, params={"top_k": 2}) as writer:
        writer.write([{"id": 1, "label": "A", "score": 0.9, "predictions": [{"label": "A", "score": 0.9}]}])
    assert pq.read_table(out).column("predictions").to_pylist() == ['[{"label": "A", "score": 0.9}]']


def test_a_sentiment_run_to_parquet_has_no_predictions_column_without_top_k(
    corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.parquet"
    result = CliRunner().invoke(
        main,
        ["run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.schema.names == ["id", "label", "score", "error"]
    assert None not in table.column("label").to_pylist()


@pytest.mark.parametrize(("long", "columns"), [("truncate", []), ("window", ["windows"])])
def test_a_windows_column_only_when_long_texts_are_windowed(
    corpus: Path, tiny_bert: Path, tmp_path: Path, long: str, columns: list[str]
) -> None:
    out = tmp_path / "s.parquet"
    args = ["run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out), "-p", f"long={long}"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.schema.names == ["id", "label", "score", *columns, "error"]
    if columns:
        assert set(table.column("windows").to_pylist()) == {1}


@pytest.mark.parametrize("text", [False, True])
def test_embed_passages_write_a_typed_row_per_passage_to_parquet_and_a_dataset(
    corpus: Path, tiny_bert: Path, tmp_path: Path, text: bool
) -> None:
    import json

    import pyarrow as pa
    import pyarrow.dataset as ds

    from nlpbatch.outputs.records import read_records

    titled = tmp_path / "titled.jsonl"
    lines = corpus.read_text().splitlines()
    titled.write_text(
        "".join(json.dumps({**json.loads(x), "title": f"t{i}"}) + "\n" for i, x in enumerate(lines))
    )
    job = ["run", str(titled), "-t", "embed", "-m", str(tiny_bert), "--chunk-size", "3", "--passages", "8"]
    job += ["--overlap", "2", "--keep-fields", "title"] + (["--passage-text"] if text else [])
    outputs = {"jsonl": tmp_path / "p.jsonl", "parquet": tmp_path / "p.parquet", "dataset": tmp_path / "ds"}
    for name, out in outputs.items():
        target = f"{out}/" if name == "dataset" else str(out)
        result = CliRunner().invoke(main, [*job, "-o", target], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    rows = list(read_records(outputs["jsonl"]))
    assert len(rows) > 7 and [r["passage"] for r in rows[:2]] == [0, 1]
    assert rows[0]["title"] == "t0" and rows[-1]["title"] == "t6"
    names = ["id", "title", "passage", "start", "end", *(["text"] if text else []), "embedding", "error"]
    types = {"passage": pa.int64(), "start": pa.int64(), "end": pa.int64(), "text": pa.string()}
    # The dataset's parts hold the same columns, kept input fields included.
    dataset = ds.dataset(outputs["dataset"]).to_table()
    for table, columns in ((pq.read_table(outputs["parquet"]), names), (dataset, names)):
        assert table.schema.names == columns
        assert all(table.schema.field(n).type == t for n, t in types.items() if n in columns)
        assert table.schema.field("embedding").type == pa.list_(pa.float32())
        got = table.drop_columns(["error", "embedding"]).to_pylist()
        assert got == [{k: v for k, v in r.items() if k in columns and k != "embedding"} for r in rows]
