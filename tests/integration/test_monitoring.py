"""A real worker with a metrics port is scraped over HTTP; status and logs tell how a job goes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from nlpbatch.broker import PROCESS_CHUNK, make_celery
from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from tests.helpers import free_port, nlpbatch_cmd, start_worker, stop_process, wait_for_log
from tests.integration.jobs import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def env(broker_url: str, session_home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "NLPBATCH_BROKER_URL": broker_url,
        "NLPBATCH_HOME": str(session_home),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*nlpbatch_cmd(), *args], env=env, capture_output=True, text=True, timeout=timeout)


def scrape(port: int) -> dict[str, float]:
    """Every sample of the /metrics page, keyed `name{label=value,...}`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "pid")
            samples[f"{s.name}{{{labels}}}"] = samples.get(f"{s.name}{{{labels}}}", 0.0) + s.value
    return samples


class Flower:
    """A real Flower (`celery flower`) on the test broker; its HTTP API read as a user's tools do."""

    def __init__(self, broker_url: str, log: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "FLOWER_UNAUTHENTICATED_API": "true"}
        cmd = [sys.executable, "-m", "celery", "--broker", broker_url, "flower"]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*cmd, "--address=127.0.0.1", f"--port={self.port}"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            body = response.read().decode()
        return json.loads(body) if path.startswith("/api/") else body

    def sees_online(self, node: str) -> bool:
        """Flower has had an event from `node` (its heartbeats come every 2 s): from now on it
        misses none."""
        try:
            metrics = self.get("/metrics")
        except OSError:  # not serving yet
            return False
        return f'flower_worker_online{{worker="{node}"}} 1.0' in metrics

    def tasks(self) -> dict[str, dict[str, Any]]:
        tasks: dict[str, dict[str, Any]] = self.get("/api/tasks")
        return tasks

    def stop(self) -> None:
        stop_process(self.proc)


def test_a_worker_serves_metrics_of_its_children_and_status_shows_the_rate(
    env: dict[str, str], tiny_bert: Path, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    cmd_env = {**env, "NLPBATCH_METRICS_PORT": str(port)}
    proc = start_worker(cmd_env, log, concurrency=2)
    flower = Flower(env["NLPBATCH_BROKER_URL"], tmp_path / "flower.log")
    try:
        wait_for_log(log, "ready.")
        node = f"nlpbatch-{proc.pid}@{socket.gethostname()}"
        wait_until(lambda: flower.sees_online(node), 30, "Flower sees the worker")
        before = scrape(port)
        assert before["nlpbatch_queue_depth{queue=nlpbatch}"] == 0

        corpus = tmp_path / "c.jsonl"
        corpus.write_text(
            "".join(json.dumps({"id": i, "text": f"review {i} was very good"}) + "\n" for i in range(45))
            + '{"id": 45}\n'
        )
        submitted = cli(
            env, "submit", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "--chunk-size", "10",
            "-o", str(tmp_path / "out.jsonl"), "--wait",
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr

        metrics = scrape(port)
        assert metrics["nlpbatch_documents_processed_total{task=sentiment}"] == 46
        assert metrics["nlpbatch_chunks_processed_total{task=sentiment}"] == 5
        assert metrics["nlpbatch_errors_total{stage=document,type=DocumentError}"] == 1
        assert metrics["nlpbatch_chunk_seconds_count{task=sentiment}"] == 5
        assert metrics["nlpbatch_batch_seconds_count{task=sentiment}"] >= 5
        assert metrics["nlpbatch_model_load_seconds_count{backend=onnx,task=sentiment}"] >= 1
        assert metrics["nlpbatch_queue_depth{queue=nlpbatch}"] == 0

        # Flower's view, from its API: the job's five chunks, each done by this worker.
        def chunks_in_flower() -> list[dict[str, Any]]:
            return [t for t in flower.tasks().values() if t["name"] == PROCESS_CHUNK]

        wait_until(
            lambda: len(chunks_in_flower()) == 5 and all(t["state"] == "SUCCESS" for t in chunks_in_flower()),
            20,
            "five chunks done in Flower",
        )
        assert {t["worker"] for t in chunks_in_flower()} == {node}
        assert node in flower.get("/api/workers?refresh=1")

        # A chunk whose model cannot be found is counted by the error's type.
        docs = [{"id": 1, "text": "x"}]
        bad = str(tmp_path / "bad.jsonl")
        chunk = ChunkMessage("j-bad", 0, "sentiment", str(tmp_path / "no-model"), docs, output=bad)
        make_celery(Settings.from_env(cmd_env)).send_task(PROCESS_CHUNK, args=[chunk.to_dict()])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            failed = {k: v for k, v in scrape(port).items() if k.startswith("nlpbatch_errors_total{stage=")}
            if set(failed) - {"nlpbatch_errors_total{stage=document,type=DocumentError}"}:
                break
            time.sleep(0.5)
        assert failed.get("nlpbatch_errors_total{stage=chunk,type=UnknownModel}") == 1, failed
    finally:
        flower.stop()
        stop_process(proc)

    job_id = submitted.stdout.splitlines()[0]
    data = json.loads(cli(env, "status", job_id, "--json").stdout)
    assert data["chunks_done"] == data["chunks_total"] == 5
    assert data["docs_done"] == 46 and data["errors"] == 1
    assert data["started"] >= data["created"] and data["eta_seconds"] == 0
    # Both figures are rounded to 2 decimals: a job of a few hundredths of a second is 46 documents
    # over an elapsed time within 0.005 s of the one shown.
    elapsed = data["elapsed_seconds"]
    assert 46 / (elapsed + 0.006) <= data["docs_per_second"] <= 46 / max(elapsed - 0.006, 1e-3)
    shown = cli(env, "status", job_id)
    assert shown.returncode == 0, shown.stderr
    for text in ("5/5 chunks", "46 documents", "docs/s", "ETA 0:00:00", "1 errors"):
        assert text in shown.stdout


def test_the_queue_depth_gauge_counts_chunks_waiting_in_every_priority_list(broker_url: str) -> None:
    import redis

    from worker.metrics import PRIORITY_SEP, QueueDepth

    client = redis.Redis.from_url(broker_url)
    client.rpush("nlpbatch", "a", "b", "c")
    client.rpush(f"nlpbatch{PRIORITY_SEP}6", "d")
    client.rpush("other", "e")
    [family] = list(QueueDepth(broker_url, "nlpbatch").collect())
    assert [(s.labels, s.value) for s in family.samples] == [({"queue": "nlpbatch"}, 4)]


def test_a_worker_logs_json_lines_without_the_broker_password(
    env: dict[str, str], broker_url: str, tmp_path: Path
) -> None:
    # The private server's default user has no password, so Redis accepts any password.
    secret = broker_url.replace("redis://", "redis://default:s3cret@")
    worker_env = {**env, "NLPBATCH_BROKER_URL": secret, "NLPBATCH_LOG_FORMAT": "json"}
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [*nlpbatch_cmd(), "worker", "--threads", "1"],
            env=worker_env, stdout=out, stderr=err, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for_log(stderr, "ready.")
        finally:
            stop_process(proc)
    assert "s3cret" not in stdout.read_text() + stderr.read_text()
    entries = [json.loads(line) for line in stderr.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any("redis://default:***@" in e["message"] for e in entries)
    assert any(e["message"].endswith("ready.") for e in entries)


def test_a_worker_whose_metrics_port_is_taken_stops_with_a_clear_error(env: dict[str, str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(env, "worker", "--metrics-port", str(port), timeout=120)
    assert result.returncode == 1
    assert f"cannot serve metrics on 0.0.0.0:{port}" in result.stderr
