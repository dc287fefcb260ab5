"""The encoder tasks from the command line: documented, validated up front, written to files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from nlpbatch.outputs.records import read_records
from nlpbatch.tasks import TASKS
from producer.cli import main
from tests.conftest import write_jsonl

ENCODER_TASKS = {
    "ner": ("token-classification", "dbmdz/bert-large-cased-finetuned-conll03-english"),
    "qa": ("question-answering", "distilbert/distilbert-base-cased-distilled-squad"),
    "fill-mask": ("fill-mask", "distilbert/distilroberta-base"),
    "zero-shot": ("zero-shot-classification", "facebook/bart-large-mnli"),
    "similarity": ("sentence-similarity", "sentence-transformers/all-MiniLM-L6-v2"),
    "tokenize": ("tokenization", "google-bert/bert-base-multilingual-cased"),
}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_nlpbatch_tasks_documents_inputs_parameters_and_default_models() -> None:
    code, stdout, _ = invoke("tasks", "--json")
    assert code == 0
    listed = json.loads(stdout)
    assert set(listed) == set(TASKS)
    for name, (alias, default_model) in ENCODER_TASKS.items():
        assert alias == name or alias in listed[name]["aliases"]
        assert listed[name]["default_model"] == default_model
        assert listed[name]["params"], name
    assert listed["qa"]["input_fields"] == ["question", "context"]
    assert set(listed["ner"]["params"]) >= {"aggregation_strategy", "stride"}
    code, text, _ = invoke("tasks")
    assert "--param aggregation_strategy=simple (none|simple|first|average|max)" in text


def test_a_bad_encoder_parameter_stops_the_job_before_any_work(
    corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.jsonl"
    code, _, stderr = invoke(
        "run",
        str(corpus),
        "-t",
        "ner",
        "-m",
        str(tiny_bert),
        "-o",
        str(out),
        "-p",
        "aggregation_strategy=big",
    )
    assert code == 2 and "must be one of: none, simple, first, average, max" in stderr
    assert not out.exists()


def test_qa_reads_question_and_context_columns_and_writes_parquet(
    tiny_models: Callable[..., Path], tmp_path: Path
) -> None:
    model = tiny_models("distilbert", "question-answering")
    rows = [
        {"id": "q1", "question": "where does john live ?", "context": "john lives in paris ."},
        {"id": "q2", "question": "who works ?", "context": "mary works for apple ."},
    ]
    corpus = write_jsonl(tmp_path / "qa.jsonl", rows)
    out = tmp_path / "answers.parquet"
    code, stdout, stderr = invoke(
        "run", str(corpus), "-t", "question-answering", "-m", str(model), "-o", str(out), "-p", "top_k=2"
    )
    assert code == 0, stdout + stderr
    table = pq.read_table(out).to_pylist()
    assert [r["id"] for r in table] == ["q1", "q2"]
    for row, source in zip(table, rows, strict=True):
        assert source["context"][row["start"] : row["end"]] == row["answer"]
        assert json.loads(row["predictions"])[0]["answer"] == row["answer"]


def test_a_qa_corpus_without_a_context_column_is_refused(
    tiny_models: Callable[..., Path], tmp_path: Path
) -> None:
    model = tiny_models("distilbert", "question-answering")
    corpus = write_jsonl(tmp_path / "qa.jsonl", [{"id": 1, "question": "who ?", "text": "john"}])
    code, _, stderr = invoke(
        "run", str(corpus), "-t", "qa", "-m", str(model), "-o", str(tmp_path / "o.jsonl")
    )
    assert code == 2 and "field 'context' not found" in stderr


def test_ner_entities_are_written_as_json_in_parquet_and_as_lists_in_jsonl(
    tiny_models: Callable[..., Path], corpus: Path, tmp_path: Path
) -> None:
    model = tiny_models("bert", "token-classification")
    for out in (tmp_path / "ner.jsonl", tmp_path / "ner.parquet"):
        code, stdout, stderr = invoke("run", str(corpus), "-t", "ner", "-m", str(model), "-o", str(out))
        assert code == 0, stdout + stderr
    jsonl = list(read_records(tmp_path / "ner.jsonl"))
    parquet = pq.read_table(tmp_path / "ner.parquet").to_pylist()
    assert [json.loads(r["entities"]) for r in parquet] == [r["entities"] for r in jsonl]
    assert all(
        {"entity_group", "word", "start", "end", "score"} == set(e) for r in jsonl for e in r["entities"]
    )


def test_models_export_picks_the_head_the_task_needs_for_the_model(
    tiny_models: Callable[..., Path], tiny_bert: Path
) -> None:
    embedder = tiny_models("bert", "feature-extraction")
    code, stdout, _ = invoke("models", "export", str(embedder), "--task", "similarity")
    assert code == 0 and "-feature-extraction-fp32-" in stdout
    code, stdout, _ = invoke("models", "export", str(tiny_bert), "--task", "similarity")
    assert code == 0 and "-text-classification-fp32-" in stdout  # a pair classifier: cross-encoder
    code, stdout, _ = invoke("models", "export", str(tiny_bert), "--task", "tokenize")
    assert code == 0 and "nothing to export" in stdout


def test_zero_shot_without_labels_in_the_job_or_the_corpus_is_refused(
    corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.jsonl"
    code, _, stderr = invoke("run", str(corpus), "-t", "zero-shot", "-m", str(tiny_bert), "-o", str(out))
    assert code == 2 and "field 'candidate_labels' not found" in stderr
    assert "--param candidate_labels=" in stderr and not out.exists()
