"""Bad corpora, poison documents, duplicated or forged messages, failing models, and secrets.

One worker serves the whole module, on a private Redis that requires a password, so every
test here also shows that password URLs work end to end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from click.testing import CliRunner

from nlpbatch.broker import PROCESS_CHUNK, make_celery
from nlpbatch.jobs import new_job_id
from nlpbatch.outputs.records import read_records
from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from producer.cli import main
from producer.job import prepare_job
from tests.helpers import RedisServer, start_worker, stop_process, wait_for_log
from tests.integration.jobs import (
    assert_job_completes,
    assert_one_record_each,
    cli,
    job_env,
    make_corpus,
    queue_messages,
    submit,
    wait_until,
)

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-pw-4711"


@dataclass
class Worker:
    url: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory, session_home: Path) -> Iterator[Worker]:
    folder = tmp_path_factory.mktemp("hostile")
    server = RedisServer(folder / "redis", password=PASSWORD).start()
    env = job_env(server.url, session_home)
    log = folder / "worker.log"
    proc = start_worker(env, log)
    try:
        wait_for_log(log, "ready.")
        yield Worker(server.url, env, log, proc)
    finally:
        stop_process(proc)
        server.stop()


def hostile_corpus(folder: Path) -> dict[str, str]:
    """Files full of bad lines; returns {document id: what its record must be}."""
    big = "good " * 200_000  # a 1 MB document
    lines: list[tuple[bytes, str]] = [
        (b'{"text": "a fine first line"}', "result"),
        (b'{"text": "broken json', "error:invalid JSON"),
        (b'{"text": "caf\xe9 latin-1"}', "error:invalid UTF-8"),
        (b'{"text": "nul \\u0000 inside"}', "result"),
        (b'{"text": "raw nul \x00 byte"}', "error:invalid JSON"),
        (b'{"text": ""}', "result"),
        (b'{"text": "   \\t  "}', "result"),
        (json.dumps({"text": big}).encode(), "result"),
        (b'{"body": "no text field"}', "error:missing field 'text'"),
        (b'{"text": 42}', "error:must be a string"),
        (b'{"text": null}', "error:missing field 'text'"),
        (b'["not", "an", "object"]', "error:not a JSON object"),
        ('{"text": "한국어 문장입니다 😀🎉 مرحبا بالعالم שלום"}'.encode(), "result"),
        # Half an emoji (a lone surrogate): valid JSON that the tokenizer cannot encode.
        (b'{"text": "poison \\ud83d alone"}', "error:"),
        (b'{"text": "a fine last line"}', "result"),
    ]
    (folder / "bad.jsonl").write_bytes(b"".join(raw + b"\n" for raw, _ in lines))
    expected = {f"{folder.name}/bad.jsonl:{n}": want for n, (_, want) in enumerate(lines, start=1)}
    csv_lines = [
        (b"text,extra", None),
        (b"plain csv row,1", "result"),
        (b'"broken quote,2', "error:unreadable CSV row"),
        (b"swallowed no more,3", "result"),
        (b'"quoted, with comma",4', "result"),
        (b"too,many,cells", "error:more cells"),
        (b"last csv row,6", "result"),
    ]
    (folder / "bad.csv").write_bytes(b"".join(raw + b"\n" for raw, _ in csv_lines))
    for n, (_, want) in enumerate(csv_lines, start=1):
        if want:
            expected[f"{folder.name}/bad.csv:{n}"] = want
    return expected


def test_every_line_of_a_hostile_corpus_yields_exactly_one_record_through_a_worker(
    worker: Worker, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    expected = hostile_corpus(folder)
    out = tmp_path / "out.jsonl"
    result = cli(
        worker.env,
        "submit",
        "corpus/bad.jsonl",
        "corpus/bad.csv",
        "-t",
        "sentiment",
        "-m",
        str(tiny_bert),
        "-o",
        str(out),
        "--chunk-size",
        "4",
        "--wait",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    records = list(read_records(out))
    assert [r["id"] for r in records] == list(expected)
    for record in records:
        want = expected[record["id"]]
        if want == "result":
            assert "error" not in record and record["label"] in ("POSITIVE", "NEGATIVE"), record
        else:
            message = want.removeprefix("error:")
            assert message in record["error"]["message"], record


def test_a_document_the_model_fails_on_gets_an_error_record_and_its_batch_the_results(
    worker: Worker, tiny_bert: Path, tmp_path: Path
) -> None:
    """A real model-side failure: a tokenizer given tokens that the model's embeddings lack."""
    from transformers import AutoTokenizer

    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    vocab_size = json.loads((model / "config.json").read_text())["vocab_size"]
    tokenizer = AutoTokenizer.from_pretrained(model)
    new_words = [f"neologism{i}" for i in range(vocab_size - len(tokenizer) + 1)]
    tokenizer.add_tokens(new_words)  # as when a fine-tune adds tokens but never resizes the model
    tokenizer.save_pretrained(model)
    poison = f"i love this {new_words[-1]} film"
    assert max(tokenizer(poison)["input_ids"]) >= vocab_size

    texts = ["great movie", "bad battery", poison, "it is ok", "i love it", "boring film", "fast", "fine"]
    rows = [{"id": f"doc{i}", "text": t} for i, t in enumerate(texts)]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    clean = [r for r in rows if r["text"] != poison]
    (tmp_path / "clean.jsonl").write_text("".join(json.dumps(r) + "\n" for r in clean))

    out = tmp_path / "out.jsonl"
    job = submit(worker.env, tmp_path / "corpus.jsonl", model, out)  # one chunk, one batch
    waited = cli(worker.env, "wait", job, "--timeout", "120")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    records = list(read_records(out))
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    assert "out of data bounds" in records[2]["error"]["message"], records[2]
    assert "1 errors" in waited.stdout

    ran = cli(
        worker.env,
        "run",
        str(tmp_path / "clean.jsonl"),
        "-t",
        "sentiment",
        "-m",
        str(model),
        "-o",
        str(tmp_path / "clean-out.jsonl"),
    )
    assert ran.returncode == 0, ran.stderr
    alone = {r["id"]: r for r in read_records(tmp_path / "clean-out.jsonl")}
    for record in records[:2] + records[3:]:
        assert record["label"] == alone[record["id"]]["label"]
        assert abs(record["score"] - alone[record["id"]]["score"]) < 1e-5


def run_messages(worker: Worker, job_spec: Any, messages: list[ChunkMessage], total: int) -> str:
    """Send `messages` for a new job of `total` chunks and wait for it; returns the job id."""
    job_id = queue_messages(worker.url, job_spec, messages, total)
    waited = cli(worker.env, "wait", job_id, "--timeout", "60")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    return job_id


def test_a_chunk_processed_twice_yields_no_duplicate_records(
    worker: Worker, tiny_bert: Path, tmp_path: Path
) -> None:
    ids = make_corpus(tmp_path / "corpus.jsonl", 30)
    job = prepare_job(
        task="sentiment",
        model=str(tiny_bert),
        inputs=[str(tmp_path / "corpus.jsonl")],
        output=str(tmp_path / "out.jsonl"),
        chunk_size=10,
    )
    messages = list(job.messages(new_job_id()))
    # Every chunk delivered twice, as after a redelivery, a retry or a resume.
    job_id = run_messages(worker, job, messages + messages, total=3)
    assert_one_record_each(tmp_path / "out.jsonl", ids)
    status = cli(worker.env, "status", job_id, "--json")
    assert json.loads(status.stdout)["docs_done"] == 30


def test_a_permanent_error_becomes_error_records_and_is_never_retried(
    worker: Worker, tiny_bert: Path, tmp_path: Path
) -> None:
    ids = make_corpus(tmp_path / "corpus.jsonl", 5)
    job = prepare_job(
        task="sentiment",
        model=str(tiny_bert),
        inputs=[str(tmp_path / "corpus.jsonl")],
        output=str(tmp_path / "out.jsonl"),
    )
    (msg,) = job.messages(new_job_id())
    forged = ChunkMessage(**{**msg.to_dict(), "task": "no-such-task"})
    job_id = run_messages(worker, job, [forged], total=1)
    records = list(read_records(tmp_path / "out.jsonl"))
    assert [r["id"] for r in records] == ids
    assert all(r["error"]["type"] == "UnknownTask" for r in records)
    log = worker.log.read_text()
    assert f"'job_id': '{job_id}', 'index': 0, 'docs': 5, 'errors': 5" in log
    assert not [line for line in log.splitlines() if "Retry in" in line and "UnknownTask" in line]


def test_a_chunk_message_a_worker_cannot_read_fails_its_job_and_says_why(
    worker: Worker, tiny_bert: Path, tmp_path: Path
) -> None:
    """As when a newer producer speaks a message version that the workers do not know yet."""
    make_corpus(tmp_path / "corpus.jsonl", 5)
    job = prepare_job(
        task="sentiment",
        model=str(tiny_bert),
        inputs=[str(tmp_path / "corpus.jsonl")],
        output=str(tmp_path / "out.jsonl"),
    )
    (msg,) = job.messages(new_job_id())
    job_id = queue_messages(worker.url, job, [{**msg.to_dict(), "version": 99}], total=1)
    waited = cli(worker.env, "wait", job_id, "--timeout", "60")
    assert waited.returncode == 1, waited.stdout + waited.stderr
    assert f"job {job_id}: failed" in waited.stdout
    assert "why: a worker refused chunk 0: unsupported chunk message version 99" in waited.stdout
    status = json.loads(cli(worker.env, "status", job_id, "--json").stdout)
    assert status["state"] == "failed" and "version 99" in status["reason"]


def test_a_model_that_fails_to_load_is_retried_with_backoff_until_it_loads(
    worker: Worker, tiny_bert: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    weights = model / "model.safetensors"
    saved = weights.read_bytes()
    weights.unlink()  # as on a shared mount that is not there yet
    ids = make_corpus(tmp_path / "corpus.jsonl", 5)
    out = tmp_path / "out.jsonl"
    job_id = submit(worker.env, tmp_path / "corpus.jsonl", model, out)
    wait_until(lambda: worker.log.read_text().count("ModelLoadError") >= 2, 60, "two retries")
    weights.write_bytes(saved)
    assert_job_completes(worker.env, job_id, out, ids)
    retries = [
        line for line in worker.log.read_text().splitlines() if "Retry in" in line and "ModelLoad" in line
    ]
    assert len(retries) >= 2


class Unpickled:
    """A pickle payload that would create a file if a worker ever unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_a_pickle_message_is_refused_and_never_unpickled(worker: Worker, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = Celery("evil", broker=worker.url, set_as_current=False)
    evil.conf.update(task_serializer="pickle", accept_content=["pickle", "json"])
    evil.send_task(PROCESS_CHUNK, args=[Unpickled(marker)], queue="nlpbatch")
    # kombu refuses by content type before decoding anything: once the refusal is logged, the
    # payload either ran already or never will.
    wait_until(lambda: "Refusing to deserialize" in worker.log.read_text(), 30, "refusal logged")
    assert not marker.exists()


def test_a_message_naming_an_unregistered_task_is_discarded_and_the_worker_goes_on(
    worker: Worker, tiny_bert: Path, tmp_path: Path
) -> None:
    """Logged once, gone from the queue and from the unacknowledged set (so never redelivered),
    and the same worker, still running, completes the job queued behind it."""
    r = redis.Redis.from_url(worker.url)
    app = make_celery(Settings(broker_url=worker.url))
    rogue = app.send_task("nlpbatch.shell", args=["rm -rf /"], queue="nlpbatch").id
    ids = make_corpus(tmp_path / "corpus.jsonl", 6)
    job_id = submit(worker.env, tmp_path / "corpus.jsonl", tiny_bert, tmp_path / "out.jsonl")
    rejected = "unregistered task of type 'nlpbatch.shell'"
    wait_until(lambda: rejected in worker.log.read_text(), 30, "rejection logged")

    def held() -> list[bytes]:
        """Every copy of the rogue message Redis still holds, queued or unacknowledged."""
        kept = r.lrange("nlpbatch", 0, -1) + list(r.hvals("unacked"))
        return [m for m in kept if rogue.encode() in m]

    assert_job_completes(worker.env, job_id, tmp_path / "out.jsonl", ids)
    wait_until(lambda: not held(), 10, "the rogue message discarded")
    assert worker.proc.poll() is None, "the worker exited"
    assert worker.log.read_text().count(rejected) == 1


def test_the_redis_password_never_appears_in_logs_or_status(
    worker: Worker, tiny_bert: Path, tmp_path: Path
) -> None:
    make_corpus(tmp_path / "corpus.jsonl", 3)
    out = tmp_path / "out.jsonl"
    submitted = cli(
        worker.env,
        "-v",
        "submit",
        str(tmp_path / "corpus.jsonl"),
        "-t",
        "sentiment",
        "-m",
        str(tiny_bert),
        "-o",
        str(out),
        "--wait",
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.splitlines()[0]
    status = cli(worker.env, "status", job_id, "--json")
    wrong = cli(
        {**worker.env, "NLPBATCH_BROKER_URL": worker.url.replace("127.0.0.1", "127.0.0.2")}, "status", "x"
    )
    seen = [
        submitted.stdout,
        submitted.stderr,
        status.stdout,
        status.stderr,
        wrong.stderr,
        worker.log.read_text(),
    ]
    assert all(PASSWORD not in text for text in seen)
    assert "***" in worker.log.read_text() or ":**@" in worker.log.read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.jsonl"], "does not exist"),
        (["empty-folder"], "has no readable files"),
        (["c.jsonl", "-t", "no-such-task"], "unknown task"),
        (["c.jsonl", "-m", "/no/such/model"], "model"),
        (["c.jsonl", "-p", "no_such_param=1"], "no_such_param"),
    ],
)
def test_submit_refuses_a_bad_job_with_exit_code_2_before_queuing_anything(
    worker: Worker,
    tiny_bert: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    make_corpus(tmp_path / "c.jsonl", 3)
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "empty-folder" / "notes.md").write_text("not a corpus")
    r = redis.Redis.from_url(worker.url)
    before = set(r.keys("nlpbatch*"))
    defaults = ["-t", "sentiment", "-m", str(tiny_bert), "-o", str(tmp_path / "o.jsonl")]
    result = CliRunner().invoke(
        main, ["submit", args[0], *_merge(defaults, args[1:])], env={"NLPBATCH_BROKER_URL": worker.url}
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert set(r.keys("nlpbatch*")) == before
    assert r.llen("nlpbatch") == 0


def _merge(defaults: list[str], overrides: list[str]) -> list[str]:
    """`defaults` (flag value pairs) with the flags in `overrides` replaced."""
    given = dict(zip(overrides[::2], overrides[1::2], strict=True))
    pairs = dict(zip(defaults[::2], defaults[1::2], strict=True))
    pairs.update(given)
    return [x for kv in pairs.items() for x in kv]
