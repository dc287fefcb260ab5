"""README claims, each run for real: schedule --run-now, results --keep and to a URL, resume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from nlpbatch.jobs import new_job_id, save_manifest
from nlpbatch.outputs.records import read_records
from nlpbatch.settings import Settings
from producer.job import prepare_job
from tests.conftest import write_jsonl
from tests.helpers import start_worker, stop_process, wait_for_log
from tests.integration.jobs import cli, job_env, make_corpus, queue_messages

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(redis_url: str, session_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A database of the session's Redis of its own, served by one worker for the module."""
    url = redis_url.rsplit("/", 1)[0] + "/5"
    environment = job_env(url, session_home)
    log = tmp_path_factory.mktemp("readme-worker") / "worker.log"
    proc = start_worker(environment, log)
    try:
        wait_for_log(log, "ready.")
        yield environment
    finally:
        stop_process(proc)
        redis.Redis.from_url(url).flushdb()


def test_run_now_runs_one_entry_over_a_list_of_inputs_and_retries_unreadable_lines_later(
    env: dict, tiny_bert: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(inbox / "a.jsonl", [{"id": "a1", "text": "good movie"}, {"id": "a2", "text": "bad film"}])
    remote = tmp_path / "remote.jsonl"
    remote.write_text('{"id": "u1", "text": "great price"}\n{"id": "u2", "text": broken\n')
    config = tmp_path / "schedule.toml"
    config.write_text(  # no timezone: UTC
        f'[[entry]]\nname = "inbox"\ncron = "0 2 * * *"\ninput = ["{inbox}", "file://{remote}"]\n'
        f'task = "sentiment"\nmodel = "{tiny_bert}"\n'
        f'output = "{tmp_path}/out/{{name}}-{{date}}-{{time}}.jsonl"\n'
    )
    home = {**env, "NLPBATCH_HOME": str(tmp_path / "home")}  # processed marks of this test only

    def run_now() -> tuple[list[str], str]:
        """The ids in the output this run wrote, named by the pattern in UTC; and its summary."""
        before = set((tmp_path / "out").glob("*.jsonl"))
        days = {datetime.now(UTC).strftime("%Y-%m-%d")}
        result = cli(home, "schedule", "--config", str(config), "--run-now", "inbox")
        days.add(datetime.now(UTC).strftime("%Y-%m-%d"))
        assert result.returncode == 0, result.stdout + result.stderr
        [new] = set((tmp_path / "out").glob("*.jsonl")) - before
        assert any(new.name.startswith(f"inbox-{day}-") for day in days), new.name
        return [r["id"] for r in read_records(new)], result.stdout

    ids, stdout = run_now()
    # Both inputs of the list, the folder and the URL; the unreadable line is left for later.
    assert ids == ["a1", "a2", "u1"] and "1 unreadable" in stdout, stdout
    remote.write_text('{"id": "u1", "text": "great price"}\n{"id": "u2", "text": "fixed now"}\n')
    ids, stdout = run_now()
    assert ids == ["u2"] and "3 already processed" in stdout, stdout


def test_results_keep_leaves_them_for_a_day_and_a_url_takes_them(
    env: dict, tiny_bert: Path, corpus: Path, tmp_path: Path
) -> None:
    args = ["submit", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", "redis://", "--wait"]
    submitted = cli(env, *args)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.split()[0]
    client = redis.Redis.from_url(env["NLPBATCH_BROKER_URL"])
    key = f"nlpbatch:job:{job_id}:results"
    assert 86_400 - 120 < client.ttl(key) <= 86_400  # a day by default

    kept = cli(env, "results", job_id, "-o", f"file://{tmp_path}/kept.jsonl", "--keep")
    assert kept.returncode == 0, kept.stderr
    ids = [f"d{i}" for i in range(7)]
    assert [r["id"] for r in read_records(tmp_path / "kept.jsonl")] == ids
    assert client.exists(key)
    drained = cli(env, "results", job_id, "-o", str(tmp_path / "drained.parquet"))
    assert drained.returncode == 0, drained.stderr
    assert [r["id"] for r in read_records(tmp_path / "drained.parquet")] == ids
    assert not client.exists(key)


def test_resume_carries_a_failed_job_on(env: dict, tiny_bert: Path, tmp_path: Path) -> None:
    ids = make_corpus(tmp_path / "corpus.jsonl", 5)
    out = tmp_path / "out.jsonl"
    job = prepare_job(
        task="sentiment", model=str(tiny_bert), inputs=[str(tmp_path / "corpus.jsonl")], output=str(out)
    )
    (msg,) = job.messages(new_job_id())
    # A message version the worker does not know (a newer producer) fails the job.
    job_id = queue_messages(env["NLPBATCH_BROKER_URL"], job, [{**msg.to_dict(), "version": 99}], total=1)
    save_manifest(Settings.from_env(env), job.manifest(job_id))  # as `submit` keeps it, for resume
    failed = cli(env, "wait", job_id, "--timeout", "60")
    assert failed.returncode == 1 and f"job {job_id}: failed" in failed.stdout, failed.stdout
    assert not out.exists()

    resumed = cli(env, "resume", job_id)
    assert resumed.returncode == 0, resumed.stderr
    waited = cli(env, "wait", job_id, "--timeout", "90")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert [r["id"] for r in read_records(out)] == ids
    status = json.loads(cli(env, "status", job_id, "--json").stdout)
    assert status["state"] == "done"
