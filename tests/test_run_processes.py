"""`run --processes N`: the chunks in N processes, the same records, parts and resume as one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from nlpbatch.outputs.records import read_records
from producer.cli import main
from tests.conftest import write_jsonl
from tests.test_gate_reuse import ROWS, assert_same_records


def command(model: Path, source: str, out: Path, *extra: str) -> list[str]:
    return [
        "run", source, "-t", "sentiment", "-m", str(model), "-o", str(out), "--chunk-size", "10",
        "--keep-fields", "lang", *extra,
    ]  # fmt: skip


def run_json(args: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_two_processes_write_the_records_of_one_in_the_same_order(
    tiny_bert: Path, tmp_path: Path, precision: str
) -> None:
    source = str(write_jsonl(tmp_path / "corpus.jsonl", ROWS))
    gate = ["--precision", precision, "--gate-docs", "15", "--gate-threshold", "0"]
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    single = run_json(command(tiny_bert, source, one, *gate))
    double = run_json(command(tiny_bert, source, two, *gate, "--processes", "2"))
    assert_same_records(list(read_records(two)), list(read_records(one)))
    assert [r["lang"] for r in read_records(two)] == [r["lang"] for r in ROWS]
    assert single["processes"] == 1 and double["processes"] == 2
    assert double["threads"] == max(1, len(os.sched_getaffinity(0)) // 2)
    same = ("docs", "errors", "chunks", "tokens", "padded_tokens", "precision", "gate_docs_reused")
    assert {k: double[k] for k in same} == {k: single[k] for k in same}
    assert double["errors"] == 3 and double["chunks"] == 5
    if precision == "int8":  # the gate ran once, before the processes; its records were written
        assert double["gate"]["docs"] == 15 and double["gate_docs_reused"] == 15
    assert not Path(f"{two}.parts").exists()


def test_threads_are_per_process_when_given(tiny_bert: Path, tmp_path: Path) -> None:
    source = str(write_jsonl(tmp_path / "corpus.jsonl", ROWS[:20]))
    report = run_json(command(tiny_bert, source, tmp_path / "o.jsonl", "--processes", "2", "--threads", "1"))
    assert (report["processes"], report["threads"], report["docs"]) == (2, 1, 20)


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_a_bad_number_of_processes_is_a_usage_error(tiny_bert: Path, tmp_path: Path, bad: str) -> None:
    source = str(write_jsonl(tmp_path / "corpus.jsonl", ROWS[:5]))
    result = CliRunner().invoke(main, command(tiny_bert, source, tmp_path / "o.jsonl", "--processes", bad))
    assert result.exit_code == 2 and "--processes" in result.output
    assert not (tmp_path / "o.jsonl").exists()


def children_of(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_every_process_and_the_run_resumes_from_its_parts(
    tiny_bert: Path, tmp_path: Path, session_home: Path
) -> None:
    source = write_jsonl(tmp_path / "corpus.jsonl", ROWS)
    reference = tmp_path / "reference.jsonl"
    run_json(command(tiny_bert, str(source), reference))

    out = tmp_path / "out.jsonl"
    args = [sys.executable, "-m", "producer",
            *command(tiny_bert, "-", out, "--input-format", "jsonl", "--processes", "2")]  # fmt: skip
    env = {**os.environ, "NLPBATCH_HOME": str(session_home)}
    lines = source.read_bytes().splitlines(keepends=True)
    # Stdin is fed by hand: 25 documents make 2 whole chunks, then the run waits for more.
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(b"".join(lines[:25]))
    proc.stdin.flush()
    second = Path(f"{out}.parts") / "chunk-00000001.jsonl"
    deadline = time.monotonic() + 120
    while not second.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert second.exists(), proc.stderr.read().decode() if proc.poll() is not None else "no part after 120 s"
    children = children_of(proc.pid)
    assert len(children) >= 2  # the two run processes (and spawn's resource tracker)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0 and not out.exists()
    deadline = time.monotonic() + 30
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(c) for c in children)

    again = subprocess.run(
        args, input=b"".join(lines), capture_output=True, env=env, timeout=300, check=False
    )
    assert again.returncode == 0, again.stderr.decode()
    assert "resuming: 2 chunks already written" in again.stderr.decode()
    assert_same_records(list(read_records(out)), list(read_records(reference)))
    report = json.loads(Path(f"{out}.report.json").read_text())
    assert report["processes"] == 2 and report["resumed_chunks"] == 2 and report["docs"] == len(ROWS)


def test_nlpbatch_run_processes_sets_the_default_and_a_bad_value_is_a_usage_error(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = str(write_jsonl(tmp_path / "corpus.jsonl", ROWS[:20]))
    monkeypatch.setenv("NLPBATCH_RUN_PROCESSES", "2")
    assert run_json(command(tiny_bert, source, tmp_path / "o.jsonl"))["processes"] == 2
    monkeypatch.setenv("NLPBATCH_RUN_PROCESSES", "0")
    result = CliRunner().invoke(main, command(tiny_bert, source, tmp_path / "p.jsonl"))
    assert result.exit_code == 2 and "0 processes" in result.output


def test_auto_runs_one_process_with_all_the_threads(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Measured: 2 x 1 was no faster than 1 x 2 on an idle machine, at twice the memory.
    from worker import engine

    monkeypatch.setenv("NLPBATCH_RUN_PROCESSES", "auto")
    monkeypatch.setattr(engine, "available_cores", lambda: 2)
    two_chunks = str(write_jsonl(tmp_path / "two.jsonl", ROWS[:20]))
    report = run_json(command(tiny_bert, two_chunks, tmp_path / "b.jsonl"))
    assert (report["processes"], report["threads"], report["docs"]) == (1, 2, 20)


def test_two_processes_log_their_progress_in_input_order(tiny_bert: Path, tmp_path: Path) -> None:
    source = str(write_jsonl(tmp_path / "corpus.jsonl", ROWS))
    result = CliRunner().invoke(main, command(tiny_bert, source, tmp_path / "o.jsonl", "--processes", "2"))
    assert result.exit_code == 0, result.output
    # The first chunk's line and the last: counted in order, errors included.
    assert "10/43 documents, " in result.stderr
    assert "43/43 documents" in result.stderr and result.stderr.rstrip().endswith("3 errors")
    assert "2 x " in result.stdout  # the printed report says how many processes
