"""Repeated ids: every document keeps its record, and the job report says which ids repeat."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from nlpbatch.outputs.records import read_records
from nlpbatch.repeats import RepeatedIds, describe_repeats
from nlpbatch.schema import ChunkMessage
from producer.cli import main


def test_repeats_are_counted_by_id_with_the_first_few_named() -> None:
    seen = RepeatedIds()
    seen.add([{"id": i} for i in ["a", "b", "a", "c", "a", "b", 7, "7"]])
    assert seen.summary() == {
        "ids": 3,
        "extra_documents": 4,
        "examples": [{"id": "a", "times": 3}, {"id": "b", "times": 2}, {"id": "7", "times": 2}],
    }


def test_unique_ids_give_no_summary_and_no_line() -> None:
    seen = RepeatedIds()
    seen.add([{"id": i} for i in range(100)])
    assert seen.summary() is None and describe_repeats(seen.summary()) == ""


def test_counting_passes_the_chunks_through_unchanged() -> None:
    messages = [
        ChunkMessage(job_id="j", index=i, task="sentiment", model="m", docs=[{"id": "x", "text": str(i)}])
        for i in range(3)
    ]
    seen = RepeatedIds()
    assert list(seen.count(iter(messages))) == messages
    assert seen.summary() == {"ids": 1, "extra_documents": 2, "examples": [{"id": "x", "times": 3}]}


def test_run_reports_repeated_ids_and_keeps_every_document_in_input_order(
    tiny_bert: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "t.csv"
    corpus.write_text("1,first\n1,second\n2,third\n3,fourth\n1,fifth\n3,sixth\n")
    out = tmp_path / "o.jsonl"
    args = ["run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out), "--no-header",
            "--text-field", "2", "--id-field", "1", "--chunk-size", "2"]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "repeated ids: 2 ids name more than one document" in result.stdout
    assert "'1' x3" in result.stdout and "--id-field none" in result.stdout
    assert [r["id"] for r in read_records(out)] == ["1", "1", "2", "3", "1", "3"]
    report = json.loads(Path(f"{out}.report.json").read_text())
    assert report["repeated_ids"] == {
        "ids": 2,
        "extra_documents": 3,
        "examples": [{"id": "1", "times": 3}, {"id": "3", "times": 2}],
    }


def test_id_field_none_leaves_no_repeats_and_names_documents_by_line(tiny_bert: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "t.csv"
    corpus.write_text("1,first\n1,second\n")
    out = tmp_path / "o.jsonl"
    args = ["run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out), "--no-header",
            "--text-field", "2", "--id-field", "none"]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "repeated ids" not in result.stdout
    assert [r["id"] for r in read_records(out)] == [f"{corpus}:1", f"{corpus}:2"]
    assert json.loads(Path(f"{out}.report.json").read_text())["repeated_ids"] is None
