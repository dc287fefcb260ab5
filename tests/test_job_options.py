"""A job's options are declared once: every option of `run` and `submit` exists in the Python API."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
from click.testing import CliRunner

from nlpbatch.report import distributed_report
from producer.api import Client
from producer.cli import main
from producer.cli.jobs import run, submit
from producer.inprocess import run as python_run
from tests.conftest import write_jsonl

#: CLI options named differently in Python, and the argument that takes them there.
RENAMED = {"field_pairs": "field_map", "param_pairs": "params", "params_file": "params"}
#: CLI options with no Python argument, and why.
CLI_ONLY = {
    "dry_run": "the CLI prints the plan; Python callers use producer.dryrun.dry_run",
    "as_json": "how the CLI prints the report; Python gets the report itself",
    "quiet": "the CLI's progress on stderr; Python prints none",
    "broker": "given once to Client(broker_url), not to each submit",
    "wait_after": "Job.wait() on the job submit returns",
}


def python_names(fn: Any) -> set[str]:
    return set(inspect.signature(fn).parameters)


@pytest.mark.parametrize(
    ("command", "api"),
    [(run, python_run), (submit, Client.submit)],
    ids=["run-vs-nlpbatch.run", "submit-vs-Client.submit"],
)
def test_every_cli_option_of_a_job_exists_in_its_python_api(command: click.Command, api: Any) -> None:
    accepted = python_names(api)
    missing = [
        p.name
        for p in command.params
        if p.name not in CLI_ONLY and RENAMED.get(p.name or "", p.name) not in accepted
    ]
    assert not missing, f"{command.name} options missing from {api.__qualname__}: {missing}"


def test_the_python_pipeline_takes_the_job_options_that_apply_to_texts_in_memory() -> None:
    from producer.inprocess import Pipeline

    accepted = python_names(Pipeline.__init__)
    for name in ("precision", "chunk_size", "text_field", "id_field", "keep_fields", "threads", "backend",
                 "gate_threshold", "gate_docs", "gate_max_docs"):  # fmt: skip
        assert name in accepted, name


def test_a_run_whose_documents_the_gate_computed_reports_their_real_rate_and_the_keys_of_submit(
    tiny_bert: Path, tmp_path: Path
) -> None:
    rows = [{"id": i, "text": f"review {i}: the screen is {'good' if i % 3 else 'bad'}"} for i in range(200)]
    source = write_jsonl(tmp_path / "corpus.jsonl", rows)
    args = ["run", str(source), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(tmp_path / "o.jsonl"),
            "--precision", "int8", "--gate-threshold", "0", "--gate-docs", "256", "--json"]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["gate_docs_reused"] == 200 and report["gate"]["docs"] == 200
    # Every document was computed by the gate: the rates are theirs, over the gate's time.
    assert report["docs_per_second"] > 0 and report["tokens_per_second"] > 0
    assert report["padding_waste"] > 0 and report["tokens"] > 0
    spent = report["seconds"] + report["gate_seconds"]
    assert report["docs_per_second"] == pytest.approx(200 / spent, rel=0.05)

    status = SimpleNamespace(
        manifest={"output": "o.jsonl", "precision": "int8", "gate": report["gate"]},
        started=10.0, created=9.0, updated=20.0, docs_done=200, errors=0, chunks_done=1,
    )  # fmt: skip
    worker = {"backend": "onnx", "precision": "int8", "threads": 1, "peak_rss_mb": 1.0, "load_seconds": 0.1}
    submitted = distributed_report(status, {"tokens": 10, "padded_tokens": 12}, {"host:1": worker})
    assert submitted.keys() == report.keys()
    assert report["workers"] and all(w.keys() == worker.keys() for w in report["workers"].values())


def test_the_python_pipeline_keeps_the_fields_it_is_asked_to_keep(tiny_bert: Path) -> None:
    from producer.inprocess import pipeline

    classify = pipeline("sentiment", model=str(tiny_bert), keep_fields=["lang"])
    records = list(classify([{"text": "a good film", "lang": "en"}, {"text": "ein Film", "lang": "de"}]))
    assert [(r["id"], r["lang"]) for r in records] == [(0, "en"), (1, "de")] and "label" in records[0]
