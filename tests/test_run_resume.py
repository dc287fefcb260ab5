"""A `run` stopped by a crash or Ctrl-C carries on from its written chunks when run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nlpbatch.outputs.records import read_records
from producer.cli import main
from tests.conftest import write_jsonl

ROWS = [
    {"id": f"d{i:03d}", "text": f"document {i} is {'good' if i % 3 else 'bad'} , really"} for i in range(60)
]


def command(model: Path, out: Path, source: str, *extra: str) -> list[str]:
    return ["run", source, "-t", "sentiment", "-m", str(model), "-o", str(out), "--chunk-size", "10", *extra]


def test_a_killed_run_resumes_from_its_written_chunks_with_the_same_records(
    tiny_bert: Path, tmp_path: Path, session_home: Path
) -> None:
    reference = tmp_path / "reference.jsonl"
    source = write_jsonl(tmp_path / "corpus.jsonl", ROWS)
    result = CliRunner().invoke(main, command(tiny_bert, reference, str(source)), catch_exceptions=False)
    assert result.exit_code == 0, result.output

    out = tmp_path / "out.jsonl"
    args = [sys.executable, "-m", "producer", *command(tiny_bert, out, "-", "--input-format", "jsonl")]
    env = {**os.environ, "NLPBATCH_HOME": str(session_home)}
    lines = source.read_bytes().splitlines(keepends=True)
    # Stdin is fed by hand: the first 35 documents make 3 whole chunks, then the run is
    # killed while it waits for more, as a crash would stop it.
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    proc.stdin.write(b"".join(lines[:35]))
    proc.stdin.flush()
    third = Path(f"{out}.parts") / "chunk-00000002.jsonl"
    deadline = time.monotonic() + 120
    while not third.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert third.exists(), proc.stderr.read().decode() if proc.poll() is not None else "no part after 120 s"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not out.exists()

    again = subprocess.run(
        args, input=b"".join(lines), capture_output=True, env=env, timeout=300, check=False
    )
    assert again.returncode == 0, again.stderr.decode()
    assert "resuming: 3 chunks already written" in again.stderr.decode()
    assert list(read_records(out)) == list(read_records(reference))
    assert not Path(f"{out}.parts").exists()


def test_a_rerun_skips_the_chunks_written_and_says_how_many_of_how_many(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.engine import Engine

    source = write_jsonl(tmp_path / "corpus.jsonl", ROWS[:40])
    out = tmp_path / "out.jsonl"
    real = Engine.run_chunk
    ran: list[int] = []

    def interrupted(self, msg, precomputed=None):  # type: ignore[no-untyped-def]
        if len(ran) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the third chunk
        ran.append(msg.index)
        return real(self, msg, precomputed)

    monkeypatch.setattr(Engine, "run_chunk", interrupted)
    stopped = CliRunner().invoke(main, command(tiny_bert, out, str(source)), catch_exceptions=False)
    assert stopped.exit_code == 1 and "Aborted" in stopped.output  # click's answer to Ctrl-C
    assert not out.exists() and ran == [0, 1]

    monkeypatch.setattr(
        Engine, "run_chunk", lambda self, msg, pre=None: ran.append(msg.index) or real(self, msg, pre)
    )
    result = CliRunner().invoke(
        main, [*command(tiny_bert, out, str(source)), "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "resuming: 2 of 4 chunks already written" in result.stderr
    assert ran == [0, 1, 2, 3]  # chunks 0 and 1 were not run again
    assert [r["id"] for r in read_records(out)] == [r["id"] for r in ROWS[:40]]
    report = json.loads(result.stdout)
    assert report["docs"] == 40 and report["resumed_chunks"] == 2


def test_parts_of_a_different_run_are_cleared_not_reused(tiny_bert: Path, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "corpus.jsonl", ROWS[:20])
    out = tmp_path / "out.jsonl"
    parts = Path(f"{out}.parts")
    parts.mkdir()
    (parts / "job.json").write_text(json.dumps({"job_id": "run", "task": "sentiment", "chunk_size": 99}))
    write_jsonl(parts / "chunk-00000000.jsonl", [{"id": "stale", "label": "POSITIVE", "score": 1.0}])
    result = CliRunner().invoke(main, command(tiny_bert, out, str(source)), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "resuming" not in result.stderr
    assert [r["id"] for r in read_records(out)] == [r["id"] for r in ROWS[:20]]

    parts.mkdir()
    (parts / "job.json").write_text(json.dumps({"job_id": "0123abcd"}))
    result = CliRunner().invoke(main, command(tiny_bert, out, str(source)), catch_exceptions=False)
    assert result.exit_code != 0 and "0123abcd" in result.output


def test_a_resumed_passage_run_writes_exactly_the_rows_of_an_uninterrupted_one(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.engine import Engine

    sentence = "the café in Seoul serves crème brûlée 서울에 갔어요 😀. Next   sentence!"
    rows = [{"id": f"d{i}", "text": " ".join([sentence] * (1 + 3 * (i % 3)))} for i in range(8)]
    source = write_jsonl(tmp_path / "corpus.jsonl", rows)
    job = ["run", str(source), "-t", "embed", "-m", str(tiny_bert), "--chunk-size", "2", "--passages", "16"]
    reference, out = tmp_path / "reference.jsonl", tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, [*job, "-o", str(reference)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    real = Engine.run_chunk
    ran: list[int] = []

    def interrupted(self, msg, precomputed=None):  # type: ignore[no-untyped-def]
        if len(ran) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the third chunk
        ran.append(msg.index)
        return real(self, msg, precomputed)

    monkeypatch.setattr(Engine, "run_chunk", interrupted)
    stopped = CliRunner().invoke(main, [*job, "-o", str(out)], catch_exceptions=False)
    assert stopped.exit_code == 1 and not out.exists() and ran == [0, 1]

    monkeypatch.setattr(Engine, "run_chunk", real)
    result = CliRunner().invoke(main, [*job, "-o", str(out), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "resuming: 2 of 4 chunks already written" in result.stderr
    expected = list(read_records(reference))
    assert len(expected) > 2 * len(rows)  # most documents gave several passages
    assert list(read_records(out)) == expected
    report = json.loads(result.stdout)
    assert (report["docs"], report["passages"], report["resumed_chunks"]) == (8, len(expected), 2)
