"""A generative job queued for a real worker gives the records `nlpbatch run` gives."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nlpbatch.outputs.records import read_records
from tests.conftest import write_jsonl
from tests.helpers import nlpbatch_cmd, start_worker, stop_process, wait_for_log

pytestmark = pytest.mark.integration

PROMPTS = [
    "i love this movie",
    "",
    "한국어 문장 😀",
    "the battery broke",
    "paris is",
    "what a great film",
    "ok",
]


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*nlpbatch_cmd(), *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_sampled_generation_through_a_worker_equals_run(
    broker_url: str, session_home: Path, tiny_gpt2: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "NLPBATCH_BROKER_URL": broker_url,
        "NLPBATCH_HOME": str(session_home),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    corpus = write_jsonl(
        tmp_path / "prompts.jsonl", [{"id": f"p{i}", "text": t} for i, t in enumerate(PROMPTS)]
    )
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"do_sample": True, "seed": 3, "max_new_tokens": 6, "top_p": 0.9}))
    job = ["--task", "text-generation", "--model", str(tiny_gpt2), "--params", str(params)]

    local = cli(env, "run", str(corpus), *job, "--chunk-size", "7", "-o", str(tmp_path / "run.jsonl"))
    assert local.returncode == 0, local.stderr

    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        wait_for_log(log, "ready.")
        out = tmp_path / "q.jsonl"
        submitted = cli(env, "submit", str(corpus), *job, "--chunk-size", "3", "-o", str(out), "--wait")
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr + log.read_text()[-3000:]
    finally:
        stop_process(worker)

    ran = list(read_records(tmp_path / "run.jsonl"))
    queued = list(read_records(out))
    assert [r["id"] for r in ran] == [f"p{i}" for i in range(len(PROMPTS))]
    # Other chunks, other batches, another process: each document samples the same text.
    assert queued == ran
    assert all(r["generated_text"].startswith(p) for r, p in zip(ran, PROMPTS, strict=True))
