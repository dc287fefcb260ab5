"""Real Redis, real `nlpbatch worker` processes: submit gives what run gives."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlpbatch.outputs.records import read_records
from tests.helpers import nlpbatch_cmd, start_worker, stop_process, wait_for_log

pytestmark = pytest.mark.integration


@pytest.fixture
def env(broker_url: str, session_home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "NLPBATCH_BROKER_URL": broker_url,
        "NLPBATCH_HOME": str(session_home),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def two_workers(env: dict[str, str], tmp_path: Path) -> Iterator[list[Path]]:
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    procs = [start_worker(env, log) for log in logs]
    try:
        for log in logs:
            wait_for_log(log, "ready.")
        yield logs
    finally:
        for proc in procs:
            stop_process(proc)


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*nlpbatch_cmd(), *args], env=env, capture_output=True, text=True, timeout=timeout)


def run_then_submit(env: dict[str, str], model: Path, tmp_path: Path, output: str) -> str:
    """The example reviews run in-process to run.jsonl, then submitted to `output`; the job id once done."""
    corpus = Path(__file__).parents[2] / "examples" / "reviews.jsonl"
    job = ["--task", "sentiment", "--model", str(model), "--chunk-size", "40"]
    local = cli(env, "run", str(corpus), *job, "-o", str(tmp_path / "run.jsonl"), "--threads", "1")
    assert local.returncode == 0, local.stderr

    submitted = cli(env, "submit", str(corpus), *job, "-o", output)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().splitlines()[0]
    waited = cli(env, "wait", job_id, "--timeout", "150")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "done, 8/8 chunks, 320 documents, 0 errors" in waited.stdout
    return job_id


def test_submit_with_two_workers_gives_the_same_records_as_run(
    env: dict[str, str], two_workers: list[Path], tiny_bert: Path, tmp_path: Path
) -> None:
    job_id = run_then_submit(env, tiny_bert, tmp_path, str(tmp_path / "submit.jsonl"))

    ran = list(read_records(tmp_path / "run.jsonl"))
    queued = list(read_records(tmp_path / "submit.jsonl"))
    assert [r["id"] for r in queued] == [r["id"] for r in ran]
    assert [r["label"] for r in queued] == [r["label"] for r in ran]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(queued, ran, strict=True)) < 1e-6
    umask = os.umask(0)
    os.umask(umask)
    for out in ("run.jsonl", "submit.jsonl"):  # the mode any new file gets: 0644 under umask 022
        assert (tmp_path / out).stat().st_mode & 0o777 == 0o666 & ~umask
    # Both workers took part.
    assert all("nlpbatch.process_chunk" in log.read_text() for log in two_workers)

    status = cli(env, "status", job_id, "--json")
    assert '"state": "done"' in status.stdout


def test_status_of_an_unknown_job_is_a_usage_error(env: dict[str, str]) -> None:
    result = cli(env, "status", "nosuchjob")
    assert result.returncode == 2 and "unknown job 'nosuchjob'" in result.stderr


def test_submit_to_an_unreachable_broker_fails_clearly_and_hides_the_password(
    env: dict[str, str], tiny_bert: Path, corpus: Path, tmp_path: Path
) -> None:
    env = {**env, "NLPBATCH_BROKER_URL": "redis://user:s3cret@127.0.0.1:1/0"}
    result = cli(
        env, "submit", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(tmp_path / "o.jsonl")
    )
    assert result.returncode == 1
    assert "cannot reach Redis at redis://user:***@127.0.0.1:1/0" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_a_submitted_job_with_a_folder_output_is_a_dataset_read_as_one_table_in_input_order(
    env: dict[str, str], two_workers: list[Path], tiny_bert: Path, tmp_path: Path
) -> None:
    import pyarrow.dataset as ds

    folder = tmp_path / "dataset"
    job_id = run_then_submit(env, tiny_bert, tmp_path, f"{folder}/")

    ran = list(read_records(tmp_path / "run.jsonl"))
    table = ds.dataset(folder, format="parquet").to_table()
    assert table.column("id").to_pylist() == [r["id"] for r in ran]
    assert table.column("label").to_pylist() == [r["label"] for r in ran]
    assert sorted(p.name for p in folder.glob("part-*")) == [f"part-{i:08d}.parquet" for i in range(8)]
    manifest = json.loads((folder / "_nlpbatch.json").read_text())
    assert (manifest["job_id"], manifest["records"], manifest["counts"]) == (job_id, 320, [40] * 8)
    assert not list(tmp_path.glob("*.parts"))  # nothing was merged

    # `nlpbatch results` writes the dataset out as one file.
    collected = cli(env, "results", job_id, "-o", str(tmp_path / "one.jsonl"))
    assert collected.returncode == 0, collected.stderr
    assert [r["id"] for r in read_records(tmp_path / "one.jsonl")] == [r["id"] for r in ran]
