"""The Python API: `nlpbatch.pipeline` over texts in memory and `nlpbatch.run` over files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import nlpbatch
from nlpbatch.errors import InvalidParameter, UnknownTask
from nlpbatch.outputs.records import read_records
from producer.cli import main


def cli_records(corpus: Path, model: Path, out: Path) -> list[dict]:
    args = ["run", str(corpus), "-t", "sentiment", "-m", str(model), "-o", str(out), "--chunk-size", "3"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return list(read_records(out))


def test_pipeline_records_equal_the_records_of_nlpbatch_run(
    corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    expected = cli_records(corpus, tiny_bert, tmp_path / "cli.jsonl")
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    pipe = nlpbatch.pipeline("sentiment", model=str(tiny_bert), chunk_size=3)

    from_dicts = list(pipe(rows))
    from_texts = list(pipe([r["text"] for r in rows]))

    assert from_dicts == expected
    assert [r["id"] for r in from_texts] == list(range(len(rows)))
    assert [{k: v for k, v in r.items() if k != "id"} for r in from_texts] == [
        {k: v for k, v in r.items() if k != "id"} for r in expected
    ]
    assert pipe(rows[0]["text"])["label"] == expected[0]["label"]


def test_a_generator_is_read_one_chunk_at_a_time(tiny_bert: Path) -> None:
    def texts() -> Iterator[str]:
        for i in range(4):
            yield f"text number {i}"
        raise RuntimeError("the corpus broke after 4 documents")

    records = nlpbatch.pipeline("sentiment", model=str(tiny_bert), chunk_size=2)(texts())
    first_chunk = [next(records), next(records)]
    second_chunk = [next(records), next(records)]
    assert [r["id"] for r in first_chunk + second_chunk] == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="after 4 documents"):
        next(records)


def test_a_bad_task_or_parameter_raises_before_any_model_loads(tiny_bert: Path) -> None:
    with pytest.raises(UnknownTask):
        nlpbatch.pipeline("no-such-task", model=str(tiny_bert))
    with pytest.raises(InvalidParameter):
        nlpbatch.pipeline("sentiment", model=str(tiny_bert), no_such_param=1)
    with pytest.raises(InvalidParameter):
        nlpbatch.pipeline("sentiment", model=str(tiny_bert), precision="fp64")


def test_run_from_python_writes_what_the_command_writes(
    corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    expected = cli_records(corpus, tiny_bert, tmp_path / "cli.jsonl")
    report = nlpbatch.run(
        str(corpus), task="sentiment", model=str(tiny_bert), output=str(tmp_path / "api.jsonl"), chunk_size=3
    )
    assert report.docs == 7 and report.chunks == 3
    assert list(read_records(tmp_path / "api.jsonl")) == expected
