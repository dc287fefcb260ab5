"""Results kept in Redis: the output is `redis://`, and jobs too large for it are refused first."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nlpbatch.errors import OutputError
from nlpbatch.outputs.redis_results import DEFAULT_TTL, parse_redis_output
from producer.cli import main

UNREACHABLE = "redis://127.0.0.1:1/0"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_a_redis_output_keeps_results_a_day_unless_a_ttl_is_given() -> None:
    assert parse_redis_output("redis://") == f"redis://?ttl={DEFAULT_TTL}" == "redis://?ttl=86400"
    assert parse_redis_output("redis://?ttl=600") == "redis://?ttl=600"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("redis://otherhost:6379/0", "go to the broker's Redis"),
        ("redis://?ttl=soon", "ttl must be a whole number of seconds"),
        ("redis://?ttl=0", "ttl must be a whole number of seconds"),
        ("redis://?expire=5", "unknown option(s) expire; valid: ttl"),
    ],
)
def test_a_malformed_redis_output_is_refused_with_the_valid_forms(output: str, message: str) -> None:
    with pytest.raises(OutputError, match="output") as info:
        parse_redis_output(output)
    assert message in str(info.value)


def test_a_job_above_the_stated_limit_is_told_to_write_a_file_before_any_work(
    monkeypatch: pytest.MonkeyPatch, corpus: Path, tiny_bert: Path
) -> None:
    monkeypatch.setattr("nlpbatch.outputs.redis_results.MAX_DOCS", 6)  # the corpus holds 7 documents
    args = ["submit", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "--broker", UNREACHABLE]
    code, _, stderr = invoke(*args, "-o", "redis://")
    # Refused before Redis is even contacted: exit 2, not the unreachable broker's 1.
    assert code == 2 and "more than 6 documents" in stderr and "write a file" in stderr
    monkeypatch.setattr("nlpbatch.outputs.redis_results.MAX_DOCS", 7)
    code, _, stderr = invoke(*args, "-o", "redis://")
    assert code == 1 and "cannot reach Redis" in stderr  # within the limit: on to submitting


def test_run_and_stdin_jobs_cannot_keep_results_in_redis(corpus: Path, tiny_bert: Path) -> None:
    code, _, stderr = invoke("run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", "redis://")
    assert code == 2 and "`run` writes files" in stderr
    result = CliRunner().invoke(
        main,
        ["submit", "-", "-t", "sentiment", "-m", str(tiny_bert), "-o", "redis://", "--broker", UNREACHABLE],
        input='{"text": "good"}\n',
    )
    assert result.exit_code == 2 and "need file inputs" in result.stderr
