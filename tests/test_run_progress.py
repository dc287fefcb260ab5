"""`nlpbatch run` shows its progress on stderr, and says when a model is exported on first use."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from rich.console import Console

from producer.cli import main
from producer.readers import Source
from producer.run_progress import RunProgress, count_documents
from tests.conftest import write_jsonl


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run_sentiment(
    corpus: Path, model: Path, out: Path, *extra: str, home: Path | None = None
) -> tuple[int, str, str]:
    """`nlpbatch [--home HOME] run CORPUS -t sentiment -m MODEL -o OUT EXTRA...` in this process."""
    first = ["--home", str(home)] if home else []
    return run_cli(*first, "run", str(corpus), "-t", "sentiment", "-m", str(model), "-o", str(out), *extra)


def test_run_logs_its_progress_when_stderr_is_not_a_terminal(
    session_home: Path, corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.jsonl"
    code, stdout, stderr = run_sentiment(corpus, tiny_bert, out, "--chunk-size", "3")
    assert code == 0, stderr
    # The first chunk's line, then the last line when the job ends; the report stays on stdout.
    assert "3/7 documents, " in stderr and " docs/s, ETA " in stderr
    assert stderr.rstrip().endswith("0 errors") and "7/7 documents" in stderr
    assert "documents" not in stdout.splitlines()[-1]


def test_quiet_runs_print_nothing_on_stderr(
    session_home: Path, corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.jsonl"
    code, _, stderr = run_cli(
        "run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out), "-q"
    )
    assert code == 0 and stderr == ""


def test_a_run_in_a_real_process_with_stderr_in_a_file_logs_progress_lines(
    session_home: Path, corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.jsonl"
    args = ["run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out), "--chunk-size", "2"]
    env = {**os.environ, "NLPBATCH_HOME": str(session_home)}
    done = subprocess.run(
        [sys.executable, "-m", "producer", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "documents, " in line]
    assert lines[0].startswith("INFO nlpbatch.run: 2/7 documents, ")
    assert lines[-1].startswith("INFO nlpbatch.run: 7/7 documents, ") and lines[-1].endswith(", 0 errors")
    assert "\x1b[" not in done.stderr  # no terminal escapes in a log file


def test_stdin_has_no_total_and_its_line_shows_no_eta(tiny_bert: Path, tmp_path: Path) -> None:
    assert count_documents([Source("-", "auto")]) is None
    progress = RunProgress(None, io.StringIO(), clock=iter([0.0, 2.0, 2.0]).__next__)
    progress.docs = 10
    assert progress.line() == "10 documents, 5.0 docs/s, ETA -:--:--, 0 errors"


def test_documents_are_counted_without_parsing_for_the_eta(tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", [{"id": i, "text": "x"} for i in range(5)])
    jsonl.write_text(jsonl.read_text() + "\n\n")  # blank lines are no documents
    txt = tmp_path / "b.txt"
    txt.write_text("one\ntwo\n")
    pq.write_table(pa.table({"text": ["a", "b", "c"]}), tmp_path / "c.parquet")
    sources = [
        Source(str(jsonl), "jsonl"),
        Source(str(txt), "txt"),
        Source(str(tmp_path / "c.parquet"), "parquet"),
    ]
    assert count_documents(sources) == 10
    assert count_documents([Source(str(tmp_path / "d.csv"), "csv")]) is None


def test_on_a_terminal_the_bar_shows_documents_rate_eta_and_errors() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)
    ticks = iter([0.0, 30.0])  # built, then 30 s of model loading before the first chunk starts
    progress = RunProgress(100, io.StringIO(), console=console, clock=lambda: next(ticks, 34.0))
    progress(0, 0, 0)
    progress(1, 40, 2)
    progress.close()
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "40/100" in shown and "10.0 docs/s" in shown and "2 errors" in shown and "ETA" in shown


def test_the_first_run_of_a_model_says_it_exports_it_and_keeps_exporter_warnings_off_the_terminal(
    corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.jsonl"
    home = tmp_path / "fresh-home"
    code, _, stderr = run_sentiment(corpus, tiny_bert, out, home=home)
    assert code == 0, stderr
    assert f"exporting {tiny_bert} to ONNX (first use)" in stderr
    assert f"exported {tiny_bert} for text-classification (fp32) in " in stderr
    for noise in ("torch_dtype", "TracerWarning", "deduplication", "Warning"):
        assert noise not in stderr
    again = run_sentiment(corpus, tiny_bert, out, home=home)
    assert "exporting" not in again[2]


def test_the_int8_gate_says_what_it_checks_and_that_it_passed(
    session_home: Path, corpus: Path, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "o.jsonl"
    # Any label agreement is at least 0: the gate must pass; and auto asks no speed of int8
    # (a tiny model's timings are noise), so it runs int8.
    monkeypatch.setenv("NLPBATCH_INT8_MIN_SPEEDUP", "0")
    code, _, stderr = run_sentiment(corpus, tiny_bert, out, "--precision", "auto", "--gate-threshold", "0")
    assert code == 0, stderr
    assert "checking int8 against fp32 on the job's first documents (the int8 gate)" in stderr
    assert "int8 gate passed on 7 documents in " in stderr and "s: running in int8" in stderr


def test_the_int8_gate_says_that_it_failed_and_runs_fp32(
    session_home: Path, corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.jsonl"
    # int8 embeddings are never exactly fp32's: a cosine of 1.0 cannot be met.
    code, _, stderr = run_cli(
        "run", str(corpus), "-t", "embed", "-m", str(tiny_bert), "-o", str(out),
        "--precision", "auto", "--gate-threshold", "1",
    )  # fmt: skip
    assert code == 0, stderr
    assert "int8 gate failed on 7 documents in " in stderr and "s: running in fp32" in stderr


def test_the_rate_of_documents_the_int8_gate_computed_counts_the_gates_seconds() -> None:
    # The gate took 20 s for the first 200 documents; the run then writes them at once.
    progress = RunProgress(200, io.StringIO(), clock=iter([0.0, 100.0, 100.5, 100.5, 100.5]).__next__)
    progress(0, 0, 0, 20.0)
    progress(1, 200, 0)
    assert progress.line().startswith("200/200 documents, 9.8 docs/s")  # 200 / 20.5 s, not 400/s
