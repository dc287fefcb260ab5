"""Input fields in the output (`--keep-fields`) and task fields read from other columns (`--field`)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from nlpbatch.outputs.records import read_records
from producer.cli import main
from tests.conftest import write_jsonl

ROWS = [
    {"id": f"r{i}", "text": text, "stars": stars, "meta": meta}
    for i, (text, stars, meta) in enumerate(
        [("i love it", 5, {"src": "web"}), ("awful", 1, None), ("it is ok", 3, {"src": "shop"})]
    )
]


def job(command: str, source: str, task: str, model: str, out: str, *extra: str) -> list[str]:
    return [command, source, "-t", task, "-m", model, "-o", out, *extra]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def write_input(kind: str, folder: Path) -> Path:
    if kind == "jsonl":
        return write_jsonl(folder / "in.jsonl", ROWS)
    if kind == "csv":
        path = folder / "in.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["id", "text", "stars"])
            writer.writeheader()
            writer.writerows({k: r[k] for k in ("id", "text", "stars")} for r in ROWS)
        return path
    path = folder / "in.parquet"
    pq.write_table(pa.Table.from_pylist([{k: r[k] for k in ("id", "text", "stars")} for r in ROWS]), path)
    return path


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("out_ext", ["jsonl", "parquet"])
def test_kept_fields_come_back_in_every_record_beside_the_result(
    kind: str, out_ext: str, tiny_bert: Path, tmp_path: Path
) -> None:
    source = write_input(kind, tmp_path)
    out = tmp_path / f"out.{out_ext}"
    code, output = invoke(
        *job("run", str(source), "sentiment", str(tiny_bert), str(out), "--keep-fields", "stars,text")
    )
    assert code == 0, output
    records = list(read_records(out))
    assert [r["id"] for r in records] == ["r0", "r1", "r2"]
    # CSV cells are strings; JSONL and Parquet keep their numbers, in JSONL and Parquet outputs alike.
    stars = [str(r["stars"]) for r in ROWS] if kind == "csv" else [r["stars"] for r in ROWS]
    assert [r["stars"] for r in records] == stars
    assert [r["text"] for r in records] == [r["text"] for r in ROWS]
    assert all(r["label"] in {"POSITIVE", "NEGATIVE"} for r in records)
    assert list(records[0])[:3] == ["id", "stars", "text"]
    if out_ext == "parquet":
        schema = pq.read_schema(out)
        assert schema.field("stars").type == (pa.string() if kind == "csv" else pa.int64())


def test_keep_all_keeps_every_input_column_and_nested_values_survive_parquet(
    tiny_bert: Path, tmp_path: Path
) -> None:
    source = write_input("jsonl", tmp_path)
    for ext in ("jsonl", "parquet"):
        out = tmp_path / f"all.{ext}"
        code, output = invoke(
            *job("run", str(source), "sentiment", str(tiny_bert), str(out), "--keep-fields", "all")
        )
        assert code == 0, output
        records = list(read_records(out))
        assert [(r["text"], r["stars"]) for r in records] == [(r["text"], r["stars"]) for r in ROWS]
        assert records[0]["meta"] == {"src": "web"}
        assert records[1]["meta"] is None


def test_a_kept_field_missing_from_the_input_stops_the_job_with_exit_code_2(
    tiny_bert: Path, tmp_path: Path
) -> None:
    source = write_input("csv", tmp_path)
    code, output = invoke(
        *job(
            "run",
            str(source),
            "sentiment",
            str(tiny_bert),
            str(tmp_path / "o.jsonl"),
            "--keep-fields",
            "stars,nope",
        )
    )
    assert code == 2 and "nope" in output and "--keep-fields" in output
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet"])
def test_field_reads_a_task_field_from_another_column(
    kind: str, tiny_models: Callable[..., Path], tmp_path: Path
) -> None:
    model = str(tiny_models("bert", "question-answering"))
    plain = [
        {"id": "a", "question": "who won ?", "context": "the red team won the cup ."},
        {"id": "b", "question": "where is it ?", "context": "it is in the old house by the sea ."},
    ]
    renamed = [{"id": r["id"], "q": r["question"], "passage": r["context"]} for r in plain]
    reference = write_jsonl(tmp_path / "plain.jsonl", plain)
    if kind == "jsonl":
        source = write_jsonl(tmp_path / "renamed.jsonl", renamed)
    elif kind == "csv":
        source = tmp_path / "renamed.csv"
        with source.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["id", "q", "passage"])
            writer.writeheader()
            writer.writerows(renamed)
    else:
        source = tmp_path / "renamed.parquet"
        pq.write_table(pa.Table.from_pylist(renamed), source)

    code, output = invoke("run", str(reference), "-t", "qa", "-m", model, "-o", str(tmp_path / "ref.jsonl"))
    assert code == 0, output
    code, output = invoke(
        *job(
            "run",
            str(source),
            "qa",
            model,
            str(tmp_path / "mapped.jsonl"),
            "--field",
            "question=q",
            "--field",
            "context=passage",
        )
    )
    assert code == 0, output
    assert list(read_records(tmp_path / "mapped.jsonl")) == list(read_records(tmp_path / "ref.jsonl"))

    code, output = invoke(
        "run", str(source), "-t", "qa", "-m", model, "-o", str(tmp_path / "x.jsonl"), "--field", "question=q"
    )
    assert code == 2 and "'context' not found" in output and "--field context=COLUMN" in output
    code, output = invoke(
        "run", str(source), "-t", "qa", "-m", model, "-o", str(tmp_path / "x.jsonl"), "--field", "answer=q"
    )
    assert code == 2 and "reads no field 'answer'" in output


def test_a_kept_field_with_no_one_type_is_json_text_in_every_row_group(tmp_path: Path) -> None:
    from nlpbatch.outputs.records import RecordWriter
    from nlpbatch.tasks import get_task

    spec = get_task("sentiment")
    out = tmp_path / "mixed.parquet"
    records = [
        {"id": str(i), "label": "POSITIVE", "score": 0.5, "mixed": value, "empty": None}
        for i, value in enumerate([1, "two", [3], None, 5])
    ]
    with RecordWriter(out, spec, row_group=2) as writer:
        writer.write(records)
    schema = pq.read_schema(out)
    assert schema.field("mixed").type == pa.string() and schema.field("empty").type == pa.string()
    assert [r["mixed"] for r in read_records(out)] == ["1", '"two"', "[3]", None, "5"]
