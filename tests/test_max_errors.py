"""`--max-errors N` or `P%`: past it, `run` exits 1 and a submitted job ends failed, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nlpbatch.errorbudget import ErrorBudget
from nlpbatch.errors import InvalidParameter
from nlpbatch.jobstore import JobState, JobStore
from nlpbatch.outputs import open_output
from nlpbatch.schema import ChunkMessage
from producer.cli import main
from tests.engines import engine


def corpus_with_bad_lines(path: Path) -> Path:
    """Ten lines; lines 3, 4 and 9 are not JSON, so they become error records."""
    lines = [f'{{"id": "d{i}", "text": "fine text {i}"}}' for i in range(10)]
    for i in (3, 4, 9):
        lines[i] = "{broken"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(corpus: Path, model: Path, out: Path, *extra: str) -> tuple[int, str]:
    args = [
        "run",
        str(corpus),
        "-t",
        "sentiment",
        "-m",
        str(model),
        "-o",
        str(out),
        "--chunk-size",
        "2",
        *extra,
    ]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.output


def test_run_past_max_errors_exits_1_and_writes_no_output(tiny_bert: Path, tmp_path: Path) -> None:
    corpus = corpus_with_bad_lines(tmp_path / "c.jsonl")
    out = tmp_path / "out.jsonl"
    code, output = run(corpus, tiny_bert, out, "--max-errors", "1")
    assert code == 1 and "3 documents failed" not in output
    assert "stopped after chunk 2: 2 documents failed, more than --max-errors 1" in output
    assert not out.exists()

    code, output = run(corpus, tiny_bert, tmp_path / "ok.jsonl", "--max-errors", "3")
    assert code == 0, output
    code, output = run(corpus, tiny_bert, tmp_path / "pct.jsonl", "--max-errors", "25%")
    assert code == 1 and "2 of 6 documents failed (33.3%), more than --max-errors 25%" in output
    code, output = run(corpus, tiny_bert, tmp_path / "off.jsonl")
    assert code == 0, output  # no limit unless asked


def test_a_bad_max_errors_is_a_usage_error() -> None:
    with pytest.raises(InvalidParameter):
        ErrorBudget.parse("ten")
    with pytest.raises(InvalidParameter):
        ErrorBudget.parse("150%")
    assert ErrorBudget.parse(None) is None
    assert ErrorBudget.parse("0") == ErrorBudget(count=0)


def test_a_submitted_job_past_max_errors_ends_failed_with_the_reason(
    broker_url: str, tiny_bert: Path, tmp_path: Path
) -> None:
    from producer.job import prepare_job
    from worker.tasks import handle_chunk

    store = JobStore.from_url(broker_url)
    corpus = corpus_with_bad_lines(tmp_path / "c.jsonl")
    out = tmp_path / "out.jsonl"
    job = prepare_job(
        task="sentiment",
        model=str(tiny_bert),
        inputs=[str(corpus)],
        output=str(out),
        chunk_size=2,
        max_errors="1",
    )
    store.create("jmax", job.manifest("jmax"))
    messages = list(job.messages("jmax"))
    store.set_total("jmax", len(messages))
    for msg in messages[:3]:
        handle_chunk(ChunkMessage.to_dict(msg), store, engine=engine.built)
    status = store.status("jmax")
    assert status is not None and status.state is JobState.FAILED
    assert status.reason == "2 documents failed, more than --max-errors 1"
    assert not out.exists() and open_output(str(out)).done_parts() == {0, 1, 2}
