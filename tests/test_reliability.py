"""Reliability without a worker: retries, timeouts, TLS, remote code, CSV recovery, backpressure."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from nlpbatch.broker import make_celery
from nlpbatch.jobstore import JobState, JobStore
from nlpbatch.retry import retry_delay
from nlpbatch.settings import Settings
from producer.readers import FieldMap, _read_csv
from tests.engines import engine
from tests.helpers import nlpbatch_cmd
from tests.integration.jobs import make_corpus, wait_until


def test_retry_delays_grow_exponentially_with_full_jitter_and_a_cap() -> None:
    samples = {n: [retry_delay(n) for _ in range(300)] for n in range(12)}
    for n, delays in samples.items():
        assert all(0 <= d <= min(2 * 2**n, 300) for d in delays)
    assert statistics.mean(samples[6]) > 4 * statistics.mean(samples[2])
    assert len(set(samples[6])) > 10  # jitter: workers retrying together do not stampede
    assert max(samples[11]) <= 300


def test_kombu_reads_the_visibility_timeout_and_checks_for_expired_chunks_often(redis_url: str) -> None:
    app = make_celery(Settings(broker_url=redis_url, visibility_timeout=77))
    assert app.conf.result_backend_transport_options["visibility_timeout"] == 77
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        assert channel.visibility_timeout == 77
        assert channel.unacked_restore_throttle == 1
        assert conn.transport_options["unacked_restore_interval"] == 7


def test_a_rediss_url_verifies_the_server_certificate_by_default() -> None:
    url = "rediss://:pw@redis.example:6380/0"
    app = make_celery(Settings(broker_url=url))
    assert app.conf.broker_use_ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert app.conf.accept_content == ["json"]
    pool = JobStore.from_url(url).r.connection_pool
    assert pool.connection_class is redis.SSLConnection
    assert pool.connection_kwargs["password"] == "pw"


def test_a_cancel_during_queuing_is_not_undone_when_the_last_chunk_is_queued(broker_url: str) -> None:
    store = JobStore.from_url(broker_url)
    store.create("j1", {"output": "/tmp/x.jsonl"})
    store.set_state("j1", JobState.CANCELLED)
    store.set_total("j1", 3)
    status = store.status("j1")
    assert status is not None and status.state is JobState.CANCELLED and status.chunks_total == 3


def test_a_job_failed_by_a_refused_chunk_during_queuing_stays_failed_when_the_last_is_queued(
    broker_url: str,
) -> None:
    store = JobStore.from_url(broker_url)
    store.create("j2", {"output": "/tmp/x.jsonl"})
    store.set_state("j2", JobState.FAILED, "a worker refused chunk 0")
    store.set_total("j2", 3)
    status = store.status("j2")
    assert status is not None and status.state is JobState.FAILED and status.chunks_total == 3
    assert status.reason == "a worker refused chunk 0"


def test_remote_code_in_a_model_folder_is_never_run(tiny_bert: Path, tmp_path: Path) -> None:
    from worker.models.loader import load_model
    from worker.pipelines import pipeline_class

    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    marker = tmp_path / "remote-code-ran"
    (model / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    for name, auto_map in (
        ("config.json", {"AutoConfig": "evil.C", "AutoModelForSequenceClassification": "evil.M"}),
        ("tokenizer_config.json", {"AutoTokenizer": ["evil.T", "evil.T"]}),
    ):
        data = json.loads((model / name).read_text())
        data["auto_map"] = auto_map
        (model / name).write_text(json.dumps(data))
    # The model loads as the plain architecture its config names; auto_map is ignored.
    loaded = load_model(
        pipeline_class("sentiment").head,
        str(model),
        task="sentiment",
        precision="fp32",
        cache=tmp_path / "c",
        threads=1,
        backend="torch",
    )
    assert not marker.exists()
    assert loaded.runtime.backend == "torch" and type(loaded.config).__name__ == "BertConfig"
    assert type(loaded.tokenizer).__name__ == "BertTokenizerFast"


def test_a_broken_csv_quote_costs_one_line_and_quoted_newlines_still_work() -> None:
    data = b'id,text\n1,"spans\ntwo lines"\n2,"never closed\n3,after\n4,last\n'
    docs = list(_read_csv(io.BytesIO(data), "f.csv", FieldMap(), ","))
    assert [d["id"] for d in docs] == ["1", "f.csv:4", "3", "4"]
    assert docs[0]["text"] == "spans\ntwo lines"
    assert "unreadable CSV row" in docs[1]["error"]["message"]


def test_submit_keeps_at_most_max_in_flight_chunks_in_redis(
    broker_url: str, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    make_corpus(tmp_path / "corpus.jsonl", 50)
    queue = "nobody-listens"
    env = {
        **os.environ,
        "NLPBATCH_BROKER_URL": broker_url,
        "NLPBATCH_QUEUE": queue,
        "NLPBATCH_HOME": str(session_home),
    }
    args = ["submit", str(tmp_path / "corpus.jsonl"), "-t", "sentiment", "-m", str(tiny_bert)]
    args += ["-o", str(tmp_path / "out.jsonl"), "--chunk-size", "5", "--max-in-flight", "2"]
    proc = subprocess.Popen([*nlpbatch_cmd(), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        r = redis.Redis.from_url(broker_url)
        wait_until(lambda: r.llen(queue) >= 2, 60, "two chunks queued")
        for _ in range(10):  # no worker: the producer must stay blocked at the bound
            assert r.llen(queue) == 2
            assert proc.poll() is None
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def chunk(output: str, model: str) -> dict:
    docs = [{"id": "a", "text": "good"}, {"id": "b", "text": "bad"}]
    return {
        "job_id": "j2",
        "index": 0,
        "task": "sentiment",
        "model": model,
        "docs": docs,
        "output": output,
        "version": 1,
    }


@pytest.mark.parametrize("output", ["relative.jsonl", "/tmp/nlpbatch-test/evil.sh", ""])
def test_a_worker_refuses_a_message_whose_output_path_is_unsafe(
    broker_url: str, tiny_bert: Path, output: str
) -> None:
    from worker.tasks import handle_chunk

    result = handle_chunk(chunk(output, str(tiny_bert)), JobStore.from_url(broker_url), engine=engine.built)
    assert "dropped" in result
    assert not Path("relative.jsonl.parts").exists() and not Path("/tmp/nlpbatch-test/evil.sh.parts").exists()


def test_a_message_naming_a_model_that_does_not_exist_gets_error_records(
    broker_url: str, tmp_path: Path
) -> None:
    from nlpbatch.outputs import open_output
    from worker.tasks import handle_chunk

    out = str(tmp_path / "out.jsonl")
    result = handle_chunk(
        chunk(out, str(tmp_path / "no-such-model")), JobStore.from_url(broker_url), engine=engine.built
    )
    assert result["errors"] == 2
    records = open_output(out).read_part(0)
    assert [r["error"]["type"] for r in records] == ["UnknownModel", "UnknownModel"]


def test_a_job_store_call_waits_for_redis_with_growing_jittered_pauses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nlpbatch import retry
    from worker import tasks

    pauses: list[float] = []
    monkeypatch.setattr(retry.time, "sleep", pauses.append)
    failures = iter([redis.ConnectionError("refused")] * 6)

    def mark_done() -> str:
        failure = next(failures, None)
        if failure:
            raise failure
        return "counted"

    assert tasks.with_redis(mark_done, "job j chunk 0", patience=600) == "counted"
    assert len(pauses) == 6
    assert all(0.2 <= p <= min(30, 0.5 * 2**n) or p == 0.2 for n, p in enumerate(pauses))
    later = [tasks.with_redis(lambda: 1, "x") for _ in range(3)]  # reachable: no pause at all
    assert later == [1, 1, 1] and len(pauses) == 6


def test_a_job_store_call_gives_up_with_a_broker_error_once_its_patience_is_spent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nlpbatch import retry
    from nlpbatch.errors import BrokerError
    from worker import tasks

    clock = [0.0]
    monkeypatch.setattr(retry.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(retry.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))

    def down() -> None:
        raise redis.ConnectionError("refused")

    with pytest.raises(BrokerError, match="unreachable for 60 s"):
        tasks.with_redis(down, "job j chunk 0", patience=60)
    assert 30 < clock[0] <= 60


def one_chunk_job(store: JobStore, job_id: str, model: Path, folder: Path) -> Path:
    """A sentiment job of one chunk (two documents) in the store, as `submit` leaves it; its output."""
    from producer.job import prepare_job

    out = folder / "out.jsonl"
    make_corpus(folder / "corpus.jsonl", 2)
    job = prepare_job(
        task="sentiment", model=str(model), inputs=[str(folder / "corpus.jsonl")], output=str(out)
    )
    store.create(job_id, job.manifest(job_id))
    store.set_total(job_id, 1)
    return out


def test_results_that_cannot_be_written_are_a_transient_storage_error_and_the_chunk_is_not_counted(
    broker_url: str, tiny_bert: Path, tmp_path: Path
) -> None:
    from nlpbatch.errors import StorageError, TransientError
    from nlpbatch.outputs.records import read_records
    from worker.tasks import handle_chunk

    store = JobStore.from_url(broker_url)
    out = one_chunk_job(store, "j2", tiny_bert, tmp_path)
    Path(f"{out}.parts").write_text("in the way\n")  # as a full disk or a lost mount would fail
    with pytest.raises(StorageError, match="cannot write the results of chunk 0") as failed:
        handle_chunk(chunk(str(out), str(tiny_bert)), store, engine=engine.built)
    assert isinstance(failed.value, TransientError)  # so the worker retries it
    status = store.status("j2")
    assert status is not None and status.chunks_done == 0

    Path(f"{out}.parts").unlink()  # the mount is back: the retry writes and counts the chunk
    assert handle_chunk(chunk(str(out), str(tiny_bert)), store, engine=engine.built)["docs"] == 2
    assert [r["id"] for r in read_records(out)] == ["a", "b"]  # the job's only chunk: merged


def test_a_chunk_out_of_retries_fails_its_job_with_the_reason_and_leaves_ended_jobs_alone(
    broker_url: str,
) -> None:
    from nlpbatch.errors import ModelLoadError
    from worker.tasks import MAX_RETRIES, _give_up

    store = JobStore.from_url(broker_url)
    for job_id in ("running", "cancelled"):
        store.create(job_id, {"output": "/tmp/x.jsonl"})
        store.set_total(job_id, 3)
    store.set_state("cancelled", JobState.CANCELLED)
    for job_id in ("running", "cancelled", "unknown"):
        _give_up(store, {"job_id": job_id, "index": 2}, ModelLoadError("no weights"))
    running = store.status("running")
    assert running is not None and running.state is JobState.FAILED
    assert running.reason == f"chunk 2 failed after {MAX_RETRIES} retries: ModelLoadError: no weights"
    cancelled = store.status("cancelled")
    assert cancelled is not None and cancelled.state is JobState.CANCELLED and cancelled.reason is None
    assert store.status("unknown") is None  # a stray message creates no job


def test_a_merge_retried_after_redis_dropped_mid_merge_takes_its_own_lock_again(
    broker_url: str, tiny_bert: Path, tmp_path: Path
) -> None:
    from nlpbatch.jobs import finalize
    from nlpbatch.outputs import open_output
    from nlpbatch.outputs.records import read_records

    store = JobStore.from_url(broker_url)
    out = one_chunk_job(store, "j3", tiny_bert, tmp_path)
    records = [{"id": "doc00000", "label": "POSITIVE"}, {"id": "doc00001", "label": "NEGATIVE"}]
    open_output(out).write_part(0, records)
    store.mark_done("j3", 0, 2, 0)
    # A worker took the lock, then lost Redis before it could set the state or unlock.
    assert store.lock_finalize("j3", "worker-1")
    assert not finalize(store, "j3")  # anyone else (`wait`, say) keeps off while it is held
    assert finalize(store, "j3", owner="worker-1")  # the worker's retry finishes the merge
    status = store.status("j3")
    assert status is not None and status.state is JobState.DONE
    assert [r["id"] for r in read_records(out)] == ["doc00000", "doc00001"]
    assert store.lock_finalize("j3", "worker-2")  # released by its owner


def test_only_the_owner_of_the_merge_lock_releases_it(broker_url: str) -> None:
    store = JobStore.from_url(broker_url)
    assert store.lock_finalize("j4", "a")
    assert not store.lock_finalize("j4", "b")
    store.unlock_finalize("j4", "b")
    assert not store.lock_finalize("j4", "b")
    store.unlock_finalize("j4", "a")
    assert store.lock_finalize("j4", "b")


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        (lambda lines: [lines[0].replace("doc00000", "new00000"), *lines], "chunk 0 no longer holds"),
        (lambda lines: lines[:2] + lines[3:], "chunk 1 no longer holds"),
        (lambda lines: lines[:2], "too short for chunk 1"),
    ],
    ids=["a line inserted", "a line removed", "cut short"],
)
def test_resume_refuses_inputs_that_changed_since_the_job_was_submitted(
    broker_url: str, tiny_bert: Path, tmp_path: Path, edit: Any, complaint: str
) -> None:
    from nlpbatch.errors import InputError
    from nlpbatch.jobs import save_manifest
    from nlpbatch.outputs import open_output
    from producer.job import prepare_job
    from producer.recovery import resume_job

    settings = Settings(broker_url=broker_url, home=tmp_path / "home", queue="resume-test")
    corpus = tmp_path / "corpus.jsonl"
    ids = make_corpus(corpus, 6)
    out = tmp_path / "out.jsonl"
    job = prepare_job(
        task="sentiment", model=str(tiny_bert), inputs=[str(corpus)], output=str(out), chunk_size=2
    )
    save_manifest(settings, job.manifest("j5"))
    for index in (0, 1):  # two of the three chunks were done before Redis lost the job
        records = [{"id": i, "label": "POSITIVE"} for i in ids[2 * index : 2 * index + 2]]
        open_output(out).write_part(index, records)

    lines = corpus.read_text().splitlines(keepends=True)
    corpus.write_text("".join(edit(lines)))
    with pytest.raises(InputError, match=complaint):
        resume_job(settings, "j5")
    assert redis.Redis.from_url(broker_url).llen("resume-test") == 0  # nothing was queued

    corpus.write_text("".join(lines))  # the inputs as they were: only the missing chunk is queued
    resumed = resume_job(settings, "j5")
    assert (resumed.chunks, resumed.queued) == (3, 1)
