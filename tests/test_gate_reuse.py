"""`run --precision int8|auto` writes the records the int8 gate computed instead of running them again."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from nlpbatch.outputs.records import read_records
from producer.cli import main
from tests.conftest import write_jsonl
from worker.pipelines.base import Pipeline

ROWS: list[dict[str, Any]] = [
    {"id": f"d{i:02d}", "lang": "en" if i % 4 else "de",
     "text": f"review {i}: the {'battery' if i % 2 else 'screen'} is {'good' if i % 3 else 'bad'}"}
    for i in range(43)
]  # fmt: skip
ROWS[3] = {"id": "bad-type", "text": 5, "lang": "en"}  # a document error, read by the gate
ROWS[12] = {"id": "no-text", "lang": "de"}  # a document error too
ROWS[17] = {"id": "bad-type-2", "text": ["x"], "lang": "en"}  # past the gate's sample


def command(model: Path, source: Path, out: Path, task: str, *extra: str) -> list[str]:
    return [
        "run", str(source), "-t", task, "-m", str(model), "-o", str(out), "--chunk-size", "10",
        "--keep-fields", "lang", "--precision", "int8", "--gate-docs", "15", "--json", *extra,
    ]  # fmt: skip


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of documents each pipeline pass receives, in either precision, gate included."""
    sizes: list[int] = []
    real = Pipeline.run_encoded

    def counting(self: Pipeline, docs: list[Any], encoded: Any) -> Any:
        sizes.append(len(docs))
        return real(self, docs, encoded)

    monkeypatch.setattr(Pipeline, "run_encoded", counting)
    return sizes


def without_gate(monkeypatch: pytest.MonkeyPatch, precision: str) -> None:
    """The same job with the gate skipped: every chunk straight in `precision`."""
    import producer.run
    from nlpbatch.chunkresult import Decision

    def chosen(job: Any, messages: Iterator[Any], *args: Any, **kwargs: Any) -> Any:
        return Decision(precision, None, (dataclasses.replace(m, precision=precision) for m in messages))

    monkeypatch.setattr(producer.run, "choose_precision", chosen)


def run_json(args: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def assert_same_records(
    got: list[dict[str, Any]], expected: list[dict[str, Any]], near: range = range(0)
) -> None:
    """Equal ids, labels and kept fields; scores equal but for the documents in `near`, only close.

    The gate runs each chunk's documents apart, batched as `run` batches a chunk, so a chunk it
    read whole has the very records; the chunk its sample ends in is batched in two parts,
    and int8's dynamic quantization scales by batch, so there the scores are close, not equal.
    """
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    for n, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert a.keys() == b.keys()
        for key, value in b.items():
            if isinstance(value, float) or (
                value and isinstance(value, list) and isinstance(value[0], float)
            ):
                np.testing.assert_allclose(a[key], value, atol=0.02 if n in near else 1e-6)
            else:
                assert a[key] == value, (a, b)


def test_an_int8_run_writes_the_gates_records_and_runs_each_document_once(
    tiny_bert: Path, tmp_path: Path, counted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_jsonl(tmp_path / "corpus.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    # Threshold 0: the gate passes on its first 15 documents, which end inside the second chunk.
    report = run_json(command(tiny_bert, source, out, "sentiment", "--gate-threshold", "0"))
    assert report["precision"] == "int8" and report["gate"]["passed"] is True
    gate_read = report["gate"]["docs"]
    assert gate_read == 15
    # The gate's 15 documents went through fp32 and int8 once each; every other document once.
    assert sum(counted) == len(ROWS) + gate_read
    assert report["gate_docs_reused"] == gate_read
    assert report["docs"] == len(ROWS) and report["errors"] == 3 and report["chunks"] == 5
    got = list(read_records(out))
    assert [r["lang"] for r in got] == [r["lang"] for r in ROWS]  # kept fields, reused or not

    counted.clear()
    reference = tmp_path / "reference.jsonl"
    without_gate(monkeypatch, "int8")
    plain = run_json(command(tiny_bert, source, reference, "sentiment"))
    assert sum(counted) == len(ROWS)
    assert_same_records(got, list(read_records(reference)), near=range(10, 20))
    # The counts cover every document, the gate's included; the rates only those computed after it.
    assert (report["tokens"], report["errors"]) == (plain["tokens"], plain["errors"])
    assert report["padded_tokens"] > 0 and plain["gate_docs_reused"] == 0
    # The rates count every document, the gate's included, over the gate's time and the run's.
    spent = report["seconds"] + report["gate_seconds"]
    assert report["gate_seconds"] > 0
    assert report["docs_per_second"] * spent == pytest.approx(report["docs"], rel=0.1)


def test_a_gate_that_falls_back_to_fp32_writes_its_fp32_records(
    tiny_bert: Path, tmp_path: Path, counted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_jsonl(tmp_path / "corpus.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    report = run_json(command(tiny_bert, source, out, "embed", "--gate-threshold", "1.0"))
    assert report["precision"] == "fp32" and report["gate"]["passed"] is False
    gate_read = report["gate"]["docs"]
    assert sum(counted) == len(ROWS) + gate_read and report["gate_docs_reused"] == gate_read

    reference = tmp_path / "reference.jsonl"
    without_gate(monkeypatch, "fp32")
    run_json(command(tiny_bert, source, reference, "embed"))
    near = range(10 * (gate_read // 10), 10 * -(-gate_read // 10))
    assert_same_records(list(read_records(out)), list(read_records(reference)), near=near)


def test_a_resumed_int8_run_reads_its_parts_and_writes_only_the_gates_unwritten_records(
    tiny_bert: Path, tmp_path: Path, counted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.engine import Engine

    source = write_jsonl(tmp_path / "corpus.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    args = command(tiny_bert, source, out, "sentiment", "--gate-threshold", "0")
    real = Engine.run_chunk
    ran: list[int] = []

    def interrupted(self: Engine, msg: Any, precomputed: Any = None) -> Any:
        if msg.index == 2:
            raise KeyboardInterrupt  # Ctrl-C in the third chunk
        ran.append(msg.index)
        return real(self, msg, precomputed)

    monkeypatch.setattr(Engine, "run_chunk", interrupted)
    stopped = CliRunner().invoke(main, args, catch_exceptions=False)
    assert stopped.exit_code == 1 and not out.exists() and ran == [0, 1]
    monkeypatch.setattr(Engine, "run_chunk", real)
    report = run_json(args)
    assert report["resumed_chunks"] == 2 and report["gate_docs_reused"] == 0  # chunks 0, 1 were written
    reference = tmp_path / "reference.jsonl"
    without_gate(monkeypatch, "int8")
    run_json(command(tiny_bert, source, reference, "sentiment"))
    assert_same_records(list(read_records(out)), list(read_records(reference)), near=range(10, 20))


def test_the_python_pipeline_writes_the_gates_records_too(tiny_bert: Path, counted: list[int]) -> None:
    from producer.inprocess import pipeline

    texts = [str(r["text"]) for r in ROWS if isinstance(r.get("text"), str)]
    classify = pipeline(
        "sentiment", model=str(tiny_bert), precision="int8", chunk_size=10, gate_docs=15, gate_threshold=0
    )
    records = list(classify(texts))
    assert [r["id"] for r in records] == list(range(len(texts)))
    assert sum(counted) == len(texts) + 15  # the gate's 15 in fp32 and int8, every other one once


def test_the_gate_compares_passages_and_its_passage_records_are_written_as_rows(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_jsonl(tmp_path / "corpus.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    passages = ["--passages", "8", "--overlap", "2"]
    report = run_json(command(tiny_bert, source, out, "embed", *passages, "--gate-threshold", "1.0"))
    gate = report["gate"]
    assert (
        gate["passed"] is False and 0.9 < gate["value"] < 1.0 and report["gate_docs_reused"] == gate["docs"]
    )
    got = list(read_records(out))
    assert report["docs"] == len(ROWS) and report["passages"] == len(got) - report["errors"] > len(ROWS)

    reference = tmp_path / "reference.jsonl"
    without_gate(monkeypatch, "fp32")
    run_json(command(tiny_bert, source, reference, "embed", *passages))
    assert_same_records(got, list(read_records(reference)), near=range(len(got)))
