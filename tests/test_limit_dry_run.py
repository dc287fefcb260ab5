"""`--limit N` reads only the first documents; `--dry-run` counts and estimates, and does nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tokenizers import Tokenizer

from nlpbatch.outputs.records import read_records
from producer.cli import main


def job(command: str, source: str, task: str, model: str, out: str, *extra: str) -> list[str]:
    return [command, source, "-t", task, "-m", model, "-o", out, *extra]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_limit_runs_only_the_first_documents(corpus: Path, tiny_bert: Path, tmp_path: Path) -> None:
    out = tmp_path / "limited.jsonl"
    args = job("run", str(corpus), "sentiment", str(tiny_bert), str(out), "--limit", "4", "--chunk-size", "3")
    result = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read_records(out)] == ["d0", "d1", "d2", "d3"]
    assert json.loads(result.stdout)["chunks"] == 2  # the report on stdout; progress goes to stderr


def queued_chunks(broker_url: str) -> list[dict]:
    """The chunk messages waiting in the queue, as Celery's JSON serializer wrote them."""
    import base64

    import redis

    bodies = [json.loads(raw) for raw in redis.Redis.from_url(broker_url).lrange("nlpbatch", 0, -1)]
    return [json.loads(base64.b64decode(b["body"]))[0][0] for b in reversed(bodies)]  # oldest first


def test_a_submitted_job_with_a_limit_queues_only_its_chunks(
    corpus: Path, tiny_bert: Path, tmp_path: Path, broker_url: str
) -> None:
    out = str(tmp_path / "o.jsonl")
    args = job("submit", str(corpus), "sentiment", str(tiny_bert), out, "--limit", "5", "--chunk-size", "2")
    code, output = invoke(*args, "--broker", broker_url)
    assert code == 0, output
    chunks = queued_chunks(broker_url)
    assert [[d["id"] for d in c["docs"]] for c in chunks] == [["d0", "d1"], ["d2", "d3"], ["d4"]]
    assert {c["job_id"] for c in chunks} == {output.split()[0]}


def test_a_limit_of_zero_is_refused(corpus: Path, tiny_bert: Path, tmp_path: Path) -> None:
    code, output = invoke(
        *job("run", str(corpus), "sentiment", str(tiny_bert), str(tmp_path / "o.jsonl"), "--limit", "0")
    )
    assert code == 2 and "--limit" in output


def test_dry_run_counts_documents_chunks_and_tokens_and_writes_nothing(
    corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "never.jsonl"
    code, output = invoke(
        *job(
            "run",
            str(corpus),
            "sentiment",
            str(tiny_bert),
            str(out),
            "--chunk-size",
            "3",
            "--dry-run",
            "--json",
        )
    )
    assert code == 0, output
    plan = json.loads(output)
    texts = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines()]
    tokenizer = Tokenizer.from_file(str(tiny_bert / "tokenizer.json"))
    assert plan["documents"] == 7 and plan["chunks"] == 3
    # The sample holds every document here, so the estimate is the exact count.
    assert plan["tokens_estimate"] == sum(len(e.ids) for e in tokenizer.encode_batch(texts))
    rate = plan["tokens_per_second_assumed"]
    assert plan["seconds_estimate"] == pytest.approx(plan["tokens_estimate"] / rate, abs=1e-3)
    assert not out.exists() and not list(tmp_path.glob("never.jsonl*"))

    code, output = invoke(
        *job("run", str(corpus), "sentiment", str(tiny_bert), str(out), "--dry-run", "--limit", "2")
    )
    assert code == 0 and "documents: 2" in output and "estimate" in output


def test_submit_dry_run_queues_nothing_and_needs_no_broker(
    corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    code, output = invoke(
        *job(
            "submit",
            str(corpus),
            "sentiment",
            str(tiny_bert),
            str(tmp_path / "o.jsonl"),
            "--broker",
            "redis://127.0.0.1:1/0",
            "--dry-run",
        )
    )
    assert code == 0, output
    assert "documents: 7" in output and "nothing was run, written or queued" in output
    code, output = invoke(
        *job("submit", str(corpus), "nope", str(tiny_bert), str(tmp_path / "o.jsonl"), "--dry-run")
    )
    assert code == 2
