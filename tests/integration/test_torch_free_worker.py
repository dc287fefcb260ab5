"""A worker on CPU runs ONNX chunks without ever loading PyTorch or transformers in its processes."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from nlpbatch.outputs.records import read_records
from tests.conftest import write_jsonl
from tests.helpers import nlpbatch_cmd, start_worker, stop_process, wait_for_log

pytestmark = pytest.mark.integration

NEEDLE = "heavy modules after chunk: "


def test_a_worker_child_processing_an_onnx_chunk_never_imports_torch_or_transformers(
    broker_url: str, tiny_bert: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "NLPBATCH_BROKER_URL": broker_url,
        "NLPBATCH_HOME": str(tmp_path / "home"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "worker.log"
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"id": i, "text": f"review {i}"} for i in range(6)])
    worker = start_worker(env, log, report_modules=True)
    try:
        wait_for_log(log, "ready.")
        for task in ("embed", "sentiment"):
            output = tmp_path / f"{task}.jsonl"
            job = ["--task", task, "--model", str(tiny_bert), "-o", str(output)]
            submitted = subprocess.run(
                [*nlpbatch_cmd(), "submit", str(corpus), *job],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert submitted.returncode == 0, submitted.stderr
            job_id = submitted.stdout.strip().splitlines()[0]
            waited = subprocess.run(
                [*nlpbatch_cmd(), "wait", job_id, "--timeout", "240"],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert waited.returncode == 0, waited.stdout + waited.stderr + log.read_text()[-3000:]
            assert [r["id"] for r in read_records(output)] == list(range(6))
        wait_for_log(log, NEEDLE)
    finally:
        stop_process(worker)
    reports = [
        ast.literal_eval(line.split(NEEDLE, 1)[1].strip())
        for line in log.read_text(errors="replace").splitlines()
        if NEEDLE in line
    ]
    assert len(reports) == 2  # one chunk per job
    for heavy in reports:
        assert "onnxruntime" in heavy and "torch" not in heavy and "transformers" not in heavy
