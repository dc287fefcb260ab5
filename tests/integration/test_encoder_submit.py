"""An encoder task queued through real Redis and a real worker gives what `run` gives."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nlpbatch.outputs.records import read_records
from tests.conftest import write_jsonl
from tests.helpers import nlpbatch_cmd, start_worker, stop_process, wait_for_log

pytestmark = pytest.mark.integration


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*nlpbatch_cmd(), *args], env=env, capture_output=True, text=True, timeout=180)


def spans(record: dict) -> list[tuple[str, str, int, int]]:
    return [(e["entity_group"], e["word"], e["start"], e["end"]) for e in record["entities"]]


def test_ner_submitted_to_a_worker_gives_the_same_entities_as_run(
    broker_url: str, session_home: Path, tiny_models: Callable[..., Path], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "NLPBATCH_BROKER_URL": broker_url,
        "NLPBATCH_HOME": str(session_home),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    model = tiny_models("bert", "token-classification")
    long_text = " ".join(["john lives in london and mary works for apple in paris ."] * 20)
    texts = ["john lives in new york", "", "서울 😀 mary in berlin", long_text, "the company apple"] * 4
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    job = ["-t", "ner", "-m", str(model), "--chunk-size", "6", "-p", "stride=16"]
    local = cli(env, "run", str(corpus), *job, "-o", str(tmp_path / "run.jsonl"), "--threads", "1")
    assert local.returncode == 0, local.stderr

    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        wait_for_log(log, "ready.")
        submitted = cli(env, "submit", str(corpus), *job, "-o", str(tmp_path / "submit.jsonl"), "--wait")
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    finally:
        stop_process(worker)

    ran = list(read_records(tmp_path / "run.jsonl"))
    queued = list(read_records(tmp_path / "submit.jsonl"))
    assert [r["id"] for r in queued] == [r["id"] for r in ran] == [f"d{i}" for i in range(len(texts))]
    assert [spans(r) for r in queued] == [spans(r) for r in ran]
    scores = [
        (a["score"], b["score"])
        for x, y in zip(ran, queued, strict=True)
        for a, b in zip(x["entities"], y["entities"], strict=True)
    ]
    assert scores and max(abs(a - b) for a, b in scores) < 1e-5


def test_embed_passages_submitted_to_a_worker_equal_run(
    broker_url: str, session_home: Path, tiny_models: Callable[..., Path], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "NLPBATCH_BROKER_URL": broker_url,
        "NLPBATCH_HOME": str(session_home),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    model = tiny_models("bert", "feature-extraction")
    sentence = "the café in Seoul serves crème brûlée 서울에 갔어요 😀. Next   sentence!"
    texts = [
        " ".join([sentence] * 9),
        "a short review",
        " ".join([sentence] * 14),
        "\n\n".join([sentence] * 6),
    ]
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    job = ["-t", "embed", "-m", str(model), "--chunk-size", "2"]
    by_params = ["-p", "passages=32", "-p", "overlap=8"]
    local = cli(
        env, "run", str(corpus), *job, *by_params, "-o", str(tmp_path / "run.jsonl"), "--threads", "1"
    )
    assert local.returncode == 0, local.stderr

    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        wait_for_log(log, "ready.")
        by_flags = ["--passages", "32", "--overlap", "8"]
        out = str(tmp_path / "submit.jsonl")
        submitted = cli(env, "submit", str(corpus), *job, *by_flags, "-o", out, "--wait")
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    finally:
        stop_process(worker)

    ran = list(read_records(tmp_path / "run.jsonl"))
    queued = list(read_records(tmp_path / "submit.jsonl"))
    # A record per passage, in input order: document, then passage.
    cuts = [(r["id"], r["passage"], r["start"], r["end"]) for r in ran]
    assert [(r["id"], r["passage"], r["start"], r["end"]) for r in queued] == cuts
    ids = [r["id"] for r in ran]
    assert sorted(set(ids)) == [f"d{i}" for i in range(len(texts))] and ids == sorted(ids)
    assert ids.count("d0") > 2 and ids.count("d1") == 1
    assert [p for i, p, _, _ in cuts if i == "d2"] == list(range(ids.count("d2")))
    # Both count documents, not passage records; `run` also says how many passages.
    assert f"{len(texts)} documents, {len(ran)} passages (0 errors)" in local.stdout
    assert f"{len(texts)} documents, 0 errors" in submitted.stdout  # the status line
    assert f"{len(texts)} documents, {len(ran)} passages (0 errors)" in submitted.stdout  # the report
    gaps = [
        max(abs(a - b) for a, b in zip(p["embedding"], q["embedding"], strict=True))
        for p, q in zip(ran, queued, strict=True)
    ]
    assert gaps and max(gaps) < 1e-5


def test_sentiment_windows_submitted_to_a_worker_equal_run(
    broker_url: str, session_home: Path, tiny_models: Callable[..., Path], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "NLPBATCH_BROKER_URL": broker_url,
        "NLPBATCH_HOME": str(session_home),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    model = tiny_models("bert", "text-classification", ("negative", "neutral", "positive"))
    sentence = "i love this movie , a great film . the battery broke and it is boring ."
    texts = [" ".join([sentence] * n) for n in (1, 20, 45)]
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    job = ["-t", "sentiment", "-m", str(model), "-p", "long=window", "-p", "stride=16", "-p", "top_k=none"]
    local = cli(env, "run", str(corpus), *job, "-o", str(tmp_path / "run.jsonl"), "--threads", "1")
    assert local.returncode == 0, local.stderr

    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        wait_for_log(log, "ready.")
        submitted = cli(env, "submit", str(corpus), *job, "-o", str(tmp_path / "submit.jsonl"), "--wait")
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    finally:
        stop_process(worker)

    ran = list(read_records(tmp_path / "run.jsonl"))
    queued = list(read_records(tmp_path / "submit.jsonl"))
    assert [(r["id"], r["label"], r["windows"]) for r in queued] == [
        (r["id"], r["label"], r["windows"]) for r in ran
    ]
    assert ran[0]["windows"] == 1 and ran[-1]["windows"] > 2
    gaps = [
        abs(a["score"] - b["score"])
        for x, y in zip(ran, queued, strict=True)
        for a, b in zip(x["predictions"], y["predictions"], strict=True)
    ]
    assert gaps and max(gaps) < 1e-5


# One OpenVINO worker for the cases below: what a queued job's input may be (compressed, CSV
# without a header) is read by `submit`, and any worker gives the same records for it.
REVIEWS = [
    "i love this movie",
    "the battery broke after a week , very bad",
    "what a great film , amazing sound and a fine price",
    "boring",
    "서울 😀 the screen works",
]


@pytest.fixture(scope="module")
def openvino_worker(
    redis_url: str, session_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], Path]]:
    """A worker run with `--backend openvino` on a database of its own, and its log."""
    import redis

    url = redis_url[: -len("/0")] + "/7" if redis_url.endswith("/0") else redis_url
    env = {
        **os.environ,
        "NLPBATCH_BROKER_URL": url,
        "NLPBATCH_HOME": str(session_home),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path_factory.mktemp("openvino-worker") / "worker.log"
    worker = start_worker(env, log, backend="openvino")
    try:
        wait_for_log(log, "ready.")
        yield env, log
    finally:
        stop_process(worker)
        redis.Redis.from_url(url).flushdb()


@pytest.fixture(scope="module")
def openvino_records(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """What `run --backend openvino` gives for REVIEWS, ids r0, r1, ..."""
    from click.testing import CliRunner

    from producer.cli import main

    folder = tmp_path_factory.mktemp("openvino-run")
    corpus = write_jsonl(folder / "c.jsonl", [{"id": f"r{i}", "text": t} for i, t in enumerate(REVIEWS)])
    args = ["run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "--backend", "openvino"]
    result = CliRunner().invoke(main, [*args, "-o", str(folder / "run.jsonl"), "--quiet"])
    assert result.exit_code == 0, result.output
    return list(read_records(folder / "run.jsonl"))


def submit_sentiment(env: dict[str, str], source: Path, model: Path, out: Path, *extra: str) -> list[dict]:
    args = ["submit", str(source), "-t", "sentiment", "-m", str(model), "--chunk-size", "2", *extra]
    submitted = cli(env, *args, "-o", str(out), "--wait")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    return list(read_records(out))


def same_records(queued: list[dict], ran: list[dict]) -> None:
    assert [(r["id"], r.get("label"), r.get("error")) for r in queued] == [
        (r["id"], r["label"], None) for r in ran
    ]
    assert [r["id"] for r in ran] == [f"r{i}" for i in range(len(REVIEWS))]
    gaps = [abs(a["score"] - b["score"]) for a, b in zip(queued, ran, strict=True)]
    assert max(gaps) < 1e-5


def test_a_worker_with_backend_openvino_runs_the_job_on_openvino(
    openvino_worker: tuple[dict[str, str], Path],
    openvino_records: list[dict],
    tiny_bert: Path,
    tmp_path: Path,
) -> None:
    env, log = openvino_worker
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": f"r{i}", "text": t} for i, t in enumerate(REVIEWS)])
    same_records(submit_sentiment(env, corpus, tiny_bert, tmp_path / "out.jsonl"), openvino_records)
    assert "on openvino/fp32" in log.read_text(errors="replace")


def test_a_gzipped_input_is_submitted_as_its_documents(
    openvino_worker: tuple[dict[str, str], Path],
    openvino_records: list[dict],
    tiny_bert: Path,
    tmp_path: Path,
) -> None:
    env, _ = openvino_worker
    rows = [{"id": f"r{i}", "text": t} for i, t in enumerate(REVIEWS)]
    corpus = tmp_path / "c.jsonl.gz"
    corpus.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    same_records(submit_sentiment(env, corpus, tiny_bert, tmp_path / "out.jsonl"), openvino_records)


def test_a_csv_without_a_header_is_submitted_by_column_numbers(
    openvino_worker: tuple[dict[str, str], Path],
    openvino_records: list[dict],
    tiny_bert: Path,
    tmp_path: Path,
) -> None:
    env, _ = openvino_worker
    corpus = tmp_path / "c.csv"
    with corpus.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([f"r{i}", i % 5, text] for i, text in enumerate(REVIEWS))
    flags = ("--no-header", "--id-field", "1", "--text-field", "3", "--keep-fields", "2")
    queued = submit_sentiment(env, corpus, tiny_bert, tmp_path / "out.jsonl", *flags)
    same_records(queued, openvino_records)
    assert [r["2"] for r in queued] == [str(i % 5) for i in range(len(REVIEWS))]
