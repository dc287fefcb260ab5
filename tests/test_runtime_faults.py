"""A runtime that fails whatever the input is retried; a document that fails is recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlpbatch.errors import RuntimeFault
from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from tests.engines import engine
from worker import local
from worker.hooks import RUN_RETRY, ChunkRetry

TEXTS = ["good", "the poison apple", "bad", "ok", "fine", "great movie", "boring film"]


@pytest.fixture(autouse=True)
def _engine(settings: Settings) -> None:
    engine.configure(settings, threads=1, backend="onnx")


def failing_first(monkeypatch: pytest.MonkeyPatch, tiny_bert: Path, calls: int) -> list[int]:
    """Make the model's first `calls` runs fail as an out-of-memory would; returns a call counter."""
    runtime = engine.get_pipeline("sentiment", str(tiny_bert), "fp32", {}).model.runtime
    real = runtime.run
    seen = [0]

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen[0] += 1
        if seen[0] <= calls:
            raise RuntimeError("Failed to allocate memory for requested buffer of size 4194304")
        return real(feeds)

    monkeypatch.setattr(runtime, "run", run)
    return seen


def chunk(tiny_bert: Path) -> ChunkMessage:
    docs = [{"id": i, "text": t} for i, t in enumerate(TEXTS)]
    return ChunkMessage(job_id="t", index=0, task="sentiment", model=str(tiny_bert), docs=docs)


@pytest.mark.parametrize("calls", [1, 3, 5, 30])
def test_a_runtime_failing_its_first_calls_whatever_the_input_records_no_error(
    tiny_bert: Path, monkeypatch: pytest.MonkeyPatch, calls: int
) -> None:
    no_pause = ChunkRetry(RUN_RETRY.retries, maximum=0)
    expected = local.run_chunk(engine.built, chunk(tiny_bert), retry=no_pause).records
    failing_first(monkeypatch, tiny_bert, calls)
    records = local.run_chunk(engine.built, chunk(tiny_bert), retry=no_pause).records
    assert not [r for r in records if "error" in r]
    assert records == expected


def test_a_runtime_fault_is_raised_as_transient_not_recorded(
    tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing_first(monkeypatch, tiny_bert, 1000)
    with pytest.raises(RuntimeFault, match="Failed to allocate memory"):
        engine.run_chunk(chunk(tiny_bert))


def test_a_poison_document_next_to_a_passing_fault_still_gets_its_error_record(
    tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = engine.get_pipeline("sentiment", str(tiny_bert), "fp32", {})
    real = pipe.model.runtime.run
    poison = pipe.tokenizer("the poison apple")["input_ids"]

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if any(list(row[: len(poison)]) == poison for row in feeds["input_ids"]):
            raise RuntimeError("model blew up")
        return real(feeds)

    monkeypatch.setattr(pipe.model.runtime, "run", run)
    records = local.run_chunk(engine.built, chunk(tiny_bert)).records
    assert [("error" in r) for r in records] == [i == 1 for i in range(len(TEXTS))]
    assert records[1]["error"] == {"type": "RuntimeError", "message": "model blew up"}
