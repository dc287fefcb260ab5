"""Options the README promises: wait's patience, --shutdown-timeout 0, NLPBATCH_POOL, schedule defaults.

Each promise is shown by real processes: a `wait` whose Redis goes away, workers SIGTERMed
mid-chunk or run under the solo pool; the option parsing beside them is checked in-process.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
import redis
from click.testing import CliRunner

from nlpbatch import defaults
from nlpbatch.jobs import new_job_id
from nlpbatch.jobstore import JobStore
from producer import client as producer_client
from producer.cli import main
from producer.job import prepare_job
from producer.schedule import load_config
from tests.helpers import RedisServer, start_worker, stop_process, wait_for_log
from tests.integration.jobs import job_env, make_corpus, queue_messages, wait_until

#: `nlpbatch wait JOB --broker URL` with the producer's Redis patience set to 3 s, in its own
#: process: the five minutes are `defaults.PRODUCER_REDIS_PATIENCE`, read when producer loads.
WAIT_WITH_PATIENCE = """
import sys
from nlpbatch import defaults
defaults.PRODUCER_REDIS_PATIENCE = 3.0
from producer.cli import main
from producer.job import prepare_job
main(["wait", sys.argv[1], "--broker", sys.argv[2]])
"""


def test_wait_keeps_trying_an_unreachable_redis_for_five_minutes(tmp_path: Path) -> None:
    """Redis goes away under a running `wait`: it keeps trying, with backoff, for its patience
    (300 s; 3 s here), then gives up saying how long Redis was unreachable."""
    assert defaults.PRODUCER_REDIS_PATIENCE == 300.0 == producer_client.REDIS_PATIENCE
    server = RedisServer(tmp_path / "redis").start()
    try:
        store = JobStore.from_url(server.url)
        store.create(
            "j", {"job_id": "j", "task": "sentiment", "model": "m", "output": "o.jsonl", "inputs": []}
        )
        store.set_total("j", 2)  # no chunk ever done: `wait` polls until Redis goes
        waiting = subprocess.Popen(
            [sys.executable, "-c", WAIT_WITH_PATIENCE, "j", server.url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        me = str(store.r.client_id())

        def polling() -> bool:  # a connection of `wait`'s, 2 s old and busy: its polling loop
            return any(
                c["id"] != me and int(c["age"]) >= 2 and int(c["idle"]) == 0 for c in store.r.client_list()
            )

        wait_until(polling, 30, "wait polling")
    finally:
        server.stop()
    stopped = time.monotonic()
    _, stderr = waiting.communicate(timeout=30)
    gave_up = time.monotonic() - stopped
    assert waiting.returncode == 1, stderr
    assert "Redis unreachable for 3 s" in stderr.splitlines()[-1], stderr
    pauses = [float(p) for p in re.findall(r"Redis unreachable \(.*\); trying again in ([\d.]+) s", stderr)]
    assert len(pauses) >= 2, stderr  # it tried again, more than once, and said so
    # It gives up once the next pause would pass its patience: within it, and not for ever.
    assert sum(pauses) <= 3.0 and sum(pauses) <= gave_up < 6, (pauses, gave_up)


class _Started:
    """Stands in for Celery: records the shutdown bound and the argv a worker starts with."""

    def __init__(self) -> None:
        self.bounds: list[float] = []
        self.argv: list[str] = []

    def worker_main(self, argv: list[str]) -> None:
        self.argv = argv


@pytest.fixture
def worker_cli(monkeypatch: pytest.MonkeyPatch) -> _Started:
    """`nlpbatch worker` runs up to the point where Celery would start."""
    import worker.main as worker_main

    started = _Started()
    monkeypatch.setattr(worker_main, "make_celery", lambda settings: started)
    monkeypatch.setattr(worker_main, "register", lambda app, settings: None)
    monkeypatch.setattr(worker_main, "_bound_warm_shutdown", started.bounds.append)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NLPBATCH_THREADS"):
        monkeypatch.setenv(var, "1")  # run_worker sets them; restored after the test
    return started


@pytest.mark.parametrize(
    ("args", "environ", "bounds"),
    [
        ([], {}, [20.0]),
        (["--shutdown-timeout", "5"], {}, [5.0]),
        (["--shutdown-timeout", "0"], {}, []),
        ([], {"NLPBATCH_SHUTDOWN_TIMEOUT": "0"}, []),
    ],
)
def test_the_shutdown_timeout_option_and_variable_set_the_bound_on_chunks_after_sigterm(
    worker_cli: _Started, monkeypatch: pytest.MonkeyPatch, args: list[str], environ: dict, bounds: list
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["worker", "--broker", "redis://127.0.0.1:1/0", *args])
    assert result.exit_code == 0, result.output
    assert worker_cli.bounds == bounds


@pytest.mark.parametrize(
    ("pool", "concurrency", "expected"),
    [("solo", 1, "--pool=solo"), (None, 1, "--pool=prefork"), ("solo", 2, "--pool=prefork")],
)
def test_nlpbatch_pool_picks_celerys_pool_solo_only_for_one_process(
    worker_cli: _Started, monkeypatch: pytest.MonkeyPatch, pool: str | None, concurrency: int, expected: str
) -> None:
    if pool:
        monkeypatch.setenv("NLPBATCH_POOL", pool)
    else:
        monkeypatch.delenv("NLPBATCH_POOL", raising=False)
    args = ["worker", "--broker", "redis://127.0.0.1:1/0", "--concurrency", str(concurrency)]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert expected in worker_cli.argv


def queue_job(broker_url: str, model: Path, folder: Path) -> str:
    """A sentiment job of one chunk of 4 documents, queued as `submit` queues it; its id."""
    make_corpus(folder / "c.jsonl", 4)
    job = prepare_job(
        task="sentiment", model=str(model), inputs=[str(folder / "c.jsonl")], output=str(folder / "o.jsonl")
    )
    return queue_messages(broker_url, job, list(job.messages(new_job_id())), total=1)


def test_a_shutdown_timeout_of_0_lets_chunks_finish_however_long_they_take(
    broker_url: str, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    """A real worker with NLPBATCH_SHUTDOWN_TIMEOUT=0, SIGTERMed while its chunk takes 3 s more:
    the chunk finishes and is counted, nothing is returned to the queue, the worker exits 0."""
    env = job_env(broker_url, session_home, NLPBATCH_SHUTDOWN_TIMEOUT="0")
    log = tmp_path / "worker.log"
    proc = start_worker(env, log, chunk_delay=3)
    try:
        wait_for_log(log, "ready.")
        job_id = queue_job(broker_url, tiny_bert, tmp_path)
        # The chunk runs, 3 s from done. (A message only received, not yet started in the child, is
        # restored to the queue by Celery's warm shutdown and skipped by the next worker as done.)
        wait_for_log(log, "chunk 0: 4 documents")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0, log.read_text()  # the chunk may still export the model
    finally:
        stop_process(proc)
    status = JobStore.from_url(broker_url).status(job_id)
    assert status is not None and status.chunks_done == 1 and status.docs_done == 4, status
    assert "returning them to the queue" not in log.read_text()
    assert redis.Redis.from_url(broker_url).llen("nlpbatch") == 0


def test_nlpbatch_pool_solo_runs_a_one_process_worker_without_forking(
    broker_url: str, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    """The worker that ran a job under NLPBATCH_POOL=solo has no child process at all."""
    env = job_env(broker_url, session_home, NLPBATCH_POOL="solo")
    log = tmp_path / "worker.log"
    proc = start_worker(env, log)
    try:
        wait_for_log(log, "ready.")
        job_id = queue_job(broker_url, tiny_bert, tmp_path)
        store = JobStore.from_url(broker_url)
        wait_until(lambda: getattr(store.status(job_id), "docs_done", 0) == 4, 60, "the job's chunk done")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children == [], [c.cmdline() for c in children]
    finally:
        stop_process(proc)


def test_a_schedule_runs_in_utc_unless_it_names_a_timezone_and_names_outputs_by_entry(
    tmp_path: Path, tiny_bert: Path
) -> None:
    config = tmp_path / "schedule.toml"
    config.write_text(
        f'[[entry]]\nname = "reviews"\ncron = "0 2 * * *"\ninput = "{tmp_path}"\ntask = "sentiment"\n'
        f'model = "{tiny_bert}"\noutput = "/out/{{name}}/{{date}}T{{time}}.jsonl"\n'
    )
    loaded = load_config(config)
    assert loaded.timezone == "UTC"
    when = datetime(2026, 11, 21, 2, 0, 5, tzinfo=UTC)
    assert loaded.entries["reviews"].output_for(when) == "/out/reviews/2026-11-21T020005.jsonl"
    checked = CliRunner().invoke(main, ["schedule", "--config", str(config), "--check"])
    assert checked.exit_code == 0 and "(UTC)" in checked.output, checked.output
