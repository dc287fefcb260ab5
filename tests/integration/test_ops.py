"""Real Redis and a real worker: the Python API, results in Redis, shared storage, scheduled runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from nlpbatch import Client
from nlpbatch.outputs.records import read_records
from nlpbatch.outputs.redis_results import key as results_key
from nlpbatch.settings import Settings
from producer.cli import main
from producer.processed import ProcessedStore
from producer.schedule import load_config, run_entry, state_path
from tests.conftest import write_jsonl
from tests.helpers import nlpbatch_cmd, start_worker, stop_process, wait_for_log

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def ops_broker(redis_url: str) -> Iterator[str]:
    """A database of the session's Redis of its own, so one worker serves the whole module."""
    url = redis_url.rsplit("/", 1)[0] + "/3"
    yield url
    redis.Redis.from_url(url).flushdb()


@pytest.fixture(scope="module")
def worker(ops_broker: str, session_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    env = {**os.environ, "NLPBATCH_BROKER_URL": ops_broker, "NLPBATCH_HOME": str(session_home)}
    log = tmp_path_factory.mktemp("ops-worker") / "worker.log"
    proc = start_worker({**env, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}, log)
    try:
        wait_for_log(log, "ready.")
        yield log
    finally:
        stop_process(proc)


@pytest.fixture
def client(ops_broker: str, worker: Path, session_home: Path) -> Client:
    return Client(ops_broker, home=session_home)


def has_umask_mode(path: Path) -> bool:
    """Whether the file has the mode the umask gives new files (0644 under 022), as the worker's."""
    umask = os.umask(0)
    os.umask(umask)
    return (path.stat().st_mode & 0o777) == 0o666 & ~umask


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## From Python\n", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "README.md has no python block under 'From Python'"
    return found.group(1)


def test_the_readme_python_example_runs_against_a_real_worker(
    client: Client,
    ops_broker: str,
    minilm: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "reviews.jsonl", tmp_path / "examples" / "reviews.jsonl")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NLPBATCH_BROKER_URL", ops_broker)
    exec(compile(readme_example(), "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "320 documents, 0 errors"
    ids = [json.loads(line)["id"] for line in (ROOT / "examples" / "reviews.jsonl").open()]
    assert [line.split(" ", 1)[0] for line in lines[1:]] == ids
    written = list(read_records(tmp_path / "out" / "reviews-embeddings.jsonl"))
    assert len(written) == 320 and len(written[0]["embedding"]) == 384


def test_results_kept_in_redis_are_read_in_order_then_drained_to_a_file(
    client: Client, ops_broker: str, tiny_bert: Path, corpus: Path, tmp_path: Path
) -> None:
    job = client.submit(
        corpus, task="sentiment", model=str(tiny_bert), output="redis://?ttl=600", chunk_size=2
    )
    job.wait(timeout=120)
    records = list(job.results())
    assert [r["id"] for r in records] == [f"d{i}" for i in range(7)]
    assert list(client.job(job.id).results()) == records  # found again by id, e.g. in another script
    assert 0 < redis.Redis.from_url(ops_broker).ttl(results_key(job.id)) <= 600

    out = tmp_path / "drained.parquet"
    drained = CliRunner().invoke(main, ["results", job.id, "-o", str(out), "--broker", ops_broker])
    assert drained.exit_code == 0, drained.output
    assert [r["label"] for r in read_records(out)] == [r["label"] for r in records]
    assert has_umask_mode(out)
    again = CliRunner().invoke(main, ["results", job.id, "-o", str(out), "--broker", ops_broker])
    assert again.exit_code == 1 and "expired or were already drained" in again.stderr


def test_a_worker_writes_parts_and_the_merged_output_through_a_storage_url(
    client: Client, tiny_bert: Path, corpus: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    job = client.submit(
        f"file://{corpus}",
        task="sentiment",
        model=str(tiny_bert),
        output=f"file://{shared}/out/sentiment.parquet",
        chunk_size=3,
    )
    status = job.wait(timeout=120)
    assert status.chunks_done == 3 and status.docs_done == 7
    # Parts merged and removed; the job report sits beside the output.
    assert sorted(p.name for p in (shared / "out").iterdir()) == [
        "sentiment.parquet",
        "sentiment.parquet.report.json",
    ]
    ids = [r["id"] for r in job.results()]
    assert ids == [f"d{i}" for i in range(7)]
    assert has_umask_mode(shared / "out" / "sentiment.parquet")


def test_a_scheduled_entry_processes_only_new_documents_on_its_second_run(
    client: Client, ops_broker: str, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(
        inbox / "mon.jsonl",
        [
            {"id": "m1", "text": "good movie"},
            {"id": "m2", "text": "bad film"},
            {"id": "m3", "title": "no text"},
        ],
    )
    config = tmp_path / "schedule.toml"
    config.write_text(
        f'[[entry]]\nname = "inbox"\ncron = "0 2 * * *"\ninput = "{inbox}"\ntask = "sentiment"\n'
        f'model = "{tiny_bert}"\noutput = "{tmp_path}/out/inbox-{{date}}.jsonl"\nchunk_size = 2\n'
    )
    entry = load_config(config).entries["inbox"]
    # A home of this test's own: the processed-documents file starts empty.
    settings = Settings.from_env(broker_url=ops_broker, home=tmp_path / "home")
    monday, tuesday, wednesday = (datetime(2026, 11, d, 2, 0, tzinfo=UTC) for d in (23, 24, 25))

    first = run_entry(entry, settings, now=monday, timeout=120)
    # m3 has no text: reported as unreadable, not queued and not marked.
    assert (first.new, first.already_done, first.unreadable, first.state) == (2, 0, 1, "done")
    write_jsonl(inbox / "tue.jsonl", [{"id": "t1", "text": "great price"}, {"text": "good movie"}])
    write_jsonl(inbox / "tue2.jsonl", [{"id": "t3", "text": "it is ok"}])

    second = run_entry(entry, settings, now=tuesday, timeout=120)
    # "good movie" again, under another id, is the same content: skipped.
    assert (second.new, second.already_done, second.state) == (2, 3, "done")
    assert [r["id"] for r in read_records(tmp_path / "out" / "inbox-2026-11-23.jsonl")] == ["m1", "m2"]
    assert [r["id"] for r in read_records(tmp_path / "out" / "inbox-2026-11-24.jsonl")] == ["t1", "t3"]
    assert has_umask_mode(tmp_path / "out" / "inbox-2026-11-24.jsonl")

    third = run_entry(entry, settings, now=wednesday, timeout=120)
    assert third.job_id is None and "nothing new (5 documents already processed" in third.describe()
    assert not (tmp_path / "out" / "inbox-2026-11-25.jsonl").exists()
    assert ProcessedStore(state_path(settings)).count("inbox") == 4


def test_a_scheduled_run_whose_job_does_not_finish_is_redone_in_full(
    client: Client, ops_broker: str, redis_url: str, tiny_bert: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(inbox / "a.jsonl", [{"id": "a1", "text": "good"}, {"id": "a2", "text": "bad"}])
    config = tmp_path / "schedule.toml"
    config.write_text(
        f'[[entry]]\nname = "e"\ncron = "0 2 * * *"\ninput = "{inbox}"\ntask = "sentiment"\n'
        f'model = "{tiny_bert}"\noutput = "{tmp_path}/out/e-{{date}}.jsonl"\n'
    )
    entry = load_config(config).entries["e"]
    home = tmp_path / "home"
    # No worker listens on database 4: the job is queued but never done, like a run cut short.
    idle = redis_url.rsplit("/", 1)[0] + "/4"
    try:
        stalled = run_entry(
            entry, Settings.from_env(broker_url=idle, home=home), now=datetime(2026, 1, 1), timeout=1
        )
    finally:
        redis.Redis.from_url(idle).flushdb()
    assert stalled.state == "failed" and ProcessedStore(state_path(Settings(home=home))).count() == 0

    redone = run_entry(
        entry, Settings.from_env(broker_url=ops_broker, home=home), now=datetime(2026, 1, 2), timeout=120
    )
    assert (redone.new, redone.state) == (2, "done")


def beat_config(tmp_path: Path, tiny_bert: Path, corpus: Path) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(corpus, inbox / corpus.name)
    config = tmp_path / "schedule.toml"
    config.write_text(
        f'[[entry]]\nname = "every-minute"\ncron = "* * * * *"\ninput = "{inbox}"\ntask = "sentiment"\n'
        f'model = "{tiny_bert}"\noutput = "{tmp_path}/out/m-{{date}}-{{time}}.jsonl"\n'
    )
    return config


def test_schedule_runs_celery_beat_with_its_state_under_nlpbatch_home(
    ops_broker: str, tiny_bert: Path, corpus: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "NLPBATCH_BROKER_URL": ops_broker, "NLPBATCH_HOME": str(tmp_path / "home")}
    log = tmp_path / "beat.log"
    cmd = ["schedule", "--config", str(beat_config(tmp_path, tiny_bert, corpus))]
    proc = subprocess.Popen([*nlpbatch_cmd(), *cmd], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    state = tmp_path / "home" / "schedule"

    def state_written() -> bool:
        return state.is_dir() and any(p.name.startswith("beat-schedule") for p in state.iterdir())

    try:
        wait_for_log(log, "beat: Starting...", timeout=60)
        assert "LocalScheduler" in log.read_text()
        # Beat opens its state file just after that line: on a busy machine, a while after.
        deadline = time.monotonic() + 60
        while not state_written() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(30)
    assert state_written()


@pytest.mark.slow
def test_beat_fires_an_entry_on_its_cron_and_the_next_firing_finds_nothing_new(
    client: Client, ops_broker: str, tiny_bert: Path, corpus: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "NLPBATCH_BROKER_URL": ops_broker, "NLPBATCH_HOME": str(tmp_path / "home")}
    log = tmp_path / "beat.log"
    cmd = ["-v", "schedule", "--config", str(beat_config(tmp_path, tiny_bert, corpus))]
    proc = subprocess.Popen([*nlpbatch_cmd(), *cmd], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    try:
        wait_for_log(log, "7 new documents (0 already processed", timeout=130)
        wait_for_log(log, "nothing new (7 documents already processed", timeout=130)
    finally:
        proc.terminate()
        proc.wait(30)
    outputs = [p for p in (tmp_path / "out").iterdir() if not p.name.endswith(".report.json")]
    assert len(outputs) == 1 and len(list(read_records(outputs[0]))) == 7
