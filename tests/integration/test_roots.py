"""Workers write and read only under their roots; a Redis ACL user works and stays secret."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nlpbatch.jobs import new_job_id
from producer.job import prepare_job
from tests.helpers import RedisServer, start_worker, stop_process, wait_for_log
from tests.integration.jobs import assert_job_completes, cli, job_env, make_corpus, queue_messages, submit

pytestmark = pytest.mark.integration

PASSWORD = "acl-pw-8812"


@dataclass
class Worker:
    url: str
    env: dict[str, str]
    log: Path
    allowed: Path


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory, session_home: Path, tiny_bert: Path) -> Iterator[Worker]:
    folder = tmp_path_factory.mktemp("roots")
    server = RedisServer(folder / "redis", password=PASSWORD, user="nlpbatch-worker").start()
    allowed = folder / "allowed"
    allowed.mkdir()
    env = job_env(
        server.url,
        session_home,
        NLPBATCH_OUTPUT_ROOTS=f"{allowed},s3://bucket/out",
        NLPBATCH_MODEL_ROOTS=str(tiny_bert),
    )
    log = folder / "worker.log"
    proc = start_worker(env, log)
    try:
        wait_for_log(log, "ready.")
        yield Worker(server.url, env, log, allowed)
    finally:
        stop_process(proc)
        server.stop()


def test_a_job_inside_the_roots_runs_through_a_redis_acl_user_whose_password_stays_hidden(
    worker: Worker, tiny_bert: Path, tmp_path: Path
) -> None:
    ids = make_corpus(tmp_path / "corpus.jsonl", 6)
    out = worker.allowed / "inside.jsonl"
    job = submit(worker.env, tmp_path / "corpus.jsonl", tiny_bert, out)
    assert_job_completes(worker.env, job, out, ids)
    status = cli(worker.env, "status", job, "--json")
    seen = worker.log.read_text() + status.stdout + status.stderr
    assert PASSWORD not in seen
    assert "nlpbatch-worker:***@" in worker.log.read_text()


def forge(worker: Worker, tiny_bert: Path, tmp_path: Path, **changes: str) -> str:
    """Queue a one-chunk job whose message has `changes`; returns the job id once `wait` fails."""
    make_corpus(tmp_path / "corpus.jsonl", 3)
    job = prepare_job(
        task="sentiment",
        model=str(tiny_bert),
        inputs=[str(tmp_path / "corpus.jsonl")],
        output=str(worker.allowed / f"{tmp_path.name}.jsonl"),
    )
    (msg,) = job.messages(new_job_id())
    job_id = queue_messages(worker.url, job, [{**msg.to_dict(), **changes}], total=1)
    waited = cli(worker.env, "wait", job_id, "--timeout", "60")
    assert waited.returncode == 1, waited.stdout + waited.stderr
    return job_id


def reason(worker: Worker, job_id: str) -> str:
    status = json.loads(cli(worker.env, "status", job_id, "--json").stdout)
    assert status["state"] == "failed"
    return str(status["reason"])


@pytest.mark.parametrize("escape", ["elsewhere", "dotdot", "symlink"])
def test_a_forged_output_outside_the_roots_is_refused_and_fails_its_job(
    worker: Worker, tiny_bert: Path, tmp_path: Path, escape: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link = worker.allowed / f"link-{tmp_path.name}"
    link.symlink_to(outside)
    target = {
        "elsewhere": outside / "out.jsonl",
        "dotdot": Path(f"{worker.allowed}/../{tmp_path.name}-escaped.jsonl"),
        "symlink": link / "out.jsonl",
    }[escape]
    job_id = forge(worker, tiny_bert, tmp_path, output=str(target))
    assert "outside NLPBATCH_OUTPUT_ROOTS" in reason(worker, job_id)
    assert not list(outside.iterdir())
    assert not Path(f"{worker.allowed}/../{tmp_path.name}-escaped.jsonl").exists()
    assert not Path(f"{worker.allowed}/../{tmp_path.name}-escaped.jsonl.parts").exists()


def test_a_forged_model_folder_outside_the_roots_is_refused_and_never_loaded(
    worker: Worker, tiny_bert: Path, tmp_path: Path
) -> None:
    model = tmp_path / "other-model"
    shutil.copytree(tiny_bert, model)
    job_id = forge(worker, tiny_bert, tmp_path, model=str(model))
    assert "outside NLPBATCH_MODEL_ROOTS" in reason(worker, job_id)
    assert str(model) not in "".join(
        line for line in worker.log.read_text().splitlines() if "loaded" in line or "export" in line
    )
