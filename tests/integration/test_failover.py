"""Sentinel failover mid-job: the primary is killed, the replica promoted, and nothing is lost or doubled."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlpbatch.jobstore import JobStore
from nlpbatch.outputs.records import read_records
from nlpbatch.retry import patiently
from tests.helpers import nlpbatch_cmd, start_worker, stop_process, wait_for_log
from tests.integration.jobs import job_env, make_corpus, parts_written, wait_until
from tests.sentinel_cluster import SentinelCluster, wait

pytestmark = pytest.mark.integration

DOCS, CHUNK = 3000, 50


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    c = SentinelCluster(tmp_path / "cluster").start()
    yield c
    c.stop()


def test_killing_the_primary_mid_job_loses_no_document_and_doubles_none(
    cluster: SentinelCluster, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    """The replica is cut from the primary's last two seconds of writes before the primary dies, so
    it misses queued chunk messages and done marks for certain. The producer finds them against the
    parts and redoes them."""
    env = job_env(cluster.url, session_home)
    ids = make_corpus(tmp_path / "corpus.jsonl", DOCS)
    out = tmp_path / "out.jsonl"
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    workers = [start_worker(env, log, chunk_delay=0.15) for log in logs]
    producer = None
    try:
        for log in logs:
            wait_for_log(log, "ready.", timeout=120)
        args = ["submit", str(tmp_path / "corpus.jsonl"), "-t", "sentiment", "-m", str(tiny_bert)]
        args += ["-o", str(out), "--chunk-size", str(CHUNK), "--max-in-flight", "16", "--wait"]
        producer = subprocess.Popen(
            [*nlpbatch_cmd(), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        wait_until(lambda: parts_written(out) >= 10, timeout=120, what="ten chunks written")
        assert cluster.replica is not None and cluster.replica.proc is not None
        # What the primary takes from now on never reaches the replica.
        cluster.cut_replication()
        before = parts_written(out)
        time.sleep(2)
        missed = parts_written(out) - before
        killed_at = time.monotonic()
        cluster.primary.stop(signal.SIGKILL)
        carried_on = _seconds_to_the_next_chunk_done(cluster, killed_at)
        output, _ = producer.communicate(timeout=150)
        assert producer.returncode == 0, output[-4000:]
    finally:
        if producer and producer.poll() is None:
            producer.kill()
        for worker in workers:
            stop_process(worker)
    assert cluster.primary_port() == cluster.replica.port  # Sentinel did promote the replica
    assert missed >= 1, "no chunk finished while the replica was stopped: nothing was at risk"
    records = list(read_records(out))
    seen = Counter(r["id"] for r in records)
    figures = {
        "documents_in": len(ids),
        "documents_out": len(records),
        "missing": len(set(ids) - set(seen)),
        "duplicated": sum(n - 1 for n in seen.values() if n > 1),
        "chunks_done_while_the_replica_was_cut_off": missed,
        "seconds_from_the_kill_to_the_next_chunk_done": round(carried_on, 2),
        "repair": [line for line in output.splitlines() if "queued again" in line],
    }
    print(json.dumps(figures, indent=1))
    assert [r["id"] for r in records] == ids  # every document once, in input order
    assert not [r for r in records if "error" in r]
    assert figures["repair"], output[-4000:]  # the loss was found, not just outwaited


def _seconds_to_the_next_chunk_done(cluster: SentinelCluster, killed_at: float) -> float:
    """Seconds from the kill until the promoted primary counts one more chunk done than it first held."""
    assert cluster.replica is not None
    replica = cluster.replica.port
    wait(lambda: cluster.primary_port() == replica, "failover", 60)
    store = JobStore.from_url(cluster.url)
    job = patiently(lambda: next(iter(store.r.scan_iter("nlpbatch:job:*"))), what="t", patience=60)
    job_id = job.removeprefix("nlpbatch:job:").split(":")[0]
    first = patiently(lambda: store.count_done(job_id), what="t", patience=60)
    wait(lambda: store.count_done(job_id) > first, "a chunk done on the new primary", 120)
    return time.monotonic() - killed_at
