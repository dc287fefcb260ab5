"""A submitted job counts repeated ids where the producer reads them, and `wait` reports them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlpbatch.outputs.records import read_records
from tests.helpers import start_worker, stop_process, wait_for_log
from tests.integration.test_distributed import cli, env  # noqa: F401  (the env fixture)

pytestmark = pytest.mark.integration


def test_a_submitted_job_reports_its_repeated_ids_in_the_manifest_and_the_report(
    env: dict[str, str],  # noqa: F811
    tiny_bert: Path,
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "t.tsv"
    ids = ["a", "b", "a", "c", "b", "a", "d"]
    corpus.write_text("".join(f"{i}\ttext number {n}\n" for n, i in enumerate(ids)))
    out = tmp_path / "o.jsonl"
    log = tmp_path / "worker.log"
    proc = start_worker(env, log, concurrency=1, threads=1)
    try:
        wait_for_log(log, "ready.")
        job = ["-t", "sentiment", "-m", str(tiny_bert), "-o", str(out), "--chunk-size", "2"]
        submitted = cli(
            env, "submit", str(corpus), *job, "--no-header", "--text-field", "2", "--id-field", "1"
        )
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.strip().splitlines()[0]
        waited = cli(env, "wait", job_id, "--timeout", "120")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert "repeated ids: 2 ids name more than one document" in waited.stdout
    finally:
        stop_process(proc)
    expected = {
        "ids": 2,
        "extra_documents": 3,
        "examples": [{"id": "a", "times": 3}, {"id": "b", "times": 2}],
    }
    assert json.loads(Path(f"{out}.report.json").read_text())["repeated_ids"] == expected
    manifest = json.loads(cli(env, "status", job_id, "--json").stdout)
    assert manifest["report"]["repeated_ids"] == expected
    assert [r["id"] for r in read_records(out)] == ids
