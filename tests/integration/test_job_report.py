"""Real workers: the thread budget holds in worker children, and a job's report lands in Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlpbatch.outputs.records import read_records
from tests.helpers import start_worker, stop_process, wait_for_log
from tests.integration.test_distributed import cli, env  # noqa: F401  (the env fixture)
from worker.engine import available_cores, thread_budget

pytestmark = pytest.mark.integration


def test_worker_children_keep_processes_times_threads_within_the_cores_and_report_it(
    env: dict[str, str],  # noqa: F811
    tiny_bert: Path,
    tmp_path: Path,
) -> None:
    log = tmp_path / "worker.log"
    proc = start_worker(env, log, concurrency=2, threads=None)
    try:
        wait_for_log(log, "ready.")
        corpus = Path(__file__).parents[2] / "examples" / "reviews.jsonl"
        out = tmp_path / "emb.jsonl"
        job = ["-t", "embed", "-m", str(tiny_bert), "-o", str(out), "--chunk-size", "20"]
        # A pass mark any int8 model meets, and no speed asked of int8 (a tiny model's timings
        # are noise): the job must run in int8 on the workers.
        env = {**env, "NLPBATCH_INT8_MIN_SPEEDUP": "0"}
        submitted = cli(env, "submit", str(corpus), *job, "--precision", "auto", "--gate-threshold", "0.5")
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.strip().splitlines()[0]
        waited = cli(env, "wait", job_id, "--timeout", "150")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert "docs/s" in waited.stdout and "int8 gate passed" in waited.stdout
    finally:
        stop_process(proc)

    report = json.loads(cli(env, "status", job_id, "--json").stdout)["report"]
    assert report == json.loads(Path(f"{out}.report.json").read_text())
    assert report["docs"] == 320 and report["precision"] == "int8" and report["gate"]["passed"]
    cores = available_cores()
    workers = report["workers"].values()
    assert 1 <= report["processes"] <= 2
    # Each child's ONNX Runtime session, read back, uses its share of the cores.
    assert {w["threads"] for w in workers} == {thread_budget(2, cores)}
    assert 2 * report["threads"] <= max(cores, 2)
    assert report["tokens"] > 0 and 0 <= report["padding_waste"] < 0.5
    assert all(w["peak_rss_mb"] > 50 for w in workers)
    assert len(list(read_records(out))) == 320
