"""The gate's work is kept: the chunks it ran whole are written, not computed again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nlpbatch.outputs.records import read_records
from nlpbatch.settings import Settings
from producer.job import JobSpec
from producer.run import run_job
from worker import local
from worker.runtime.onnx import OnnxRuntime


def write_corpus(path: Path, n: int) -> Path:
    """`n` lines: texts of varied length, one malformed line, one document without text."""
    lines = [json.dumps({"id": i, "text": "review " + "word " * (i % 7) + str(i)}) for i in range(n)]
    lines[2] = "{not json"
    lines[5] = json.dumps({"id": 5, "title": "no text"})
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def rows_seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Rows each precision's ONNX session was given, counted by a spy on the runtime."""
    seen = {"fp32": 0, "int8": 0}
    real = OnnxRuntime.run

    def spy(self: OnnxRuntime, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen[self.precision] += len(feeds["input_ids"])
        return real(self, feeds)

    monkeypatch.setattr(OnnxRuntime, "run", spy)
    return seen


@pytest.mark.parametrize(("threshold", "chosen"), [(0.0, "int8"), (1.01, "fp32")])
@pytest.mark.parametrize(("gate_docs", "again"), [(11, 0), (10, 3)])
def test_the_gates_documents_run_through_the_chosen_model_once(
    threshold: float,
    chosen: str,
    gate_docs: int,
    again: int,
    tiny_bert: Path,
    settings: Settings,
    tmp_path: Path,
    rows_seen: dict[str, int],
) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", 30)
    output = tmp_path / "out.jsonl"
    job = JobSpec("embed", str(tiny_bert), (str(corpus),), str(output), precision="int8", chunk_size=4)
    # Chunks 0, 1 and 2 hold 3, 4 and 4 documents the gate takes (line 2 is malformed), so
    # 11 gate documents cover them whole; with 10, chunk 2 is run again, whole, by the job.
    report = run_job(job, settings, threads=1, backend="onnx", gate_threshold=threshold, gate_docs=gate_docs)
    assert report.precision == chosen and report.gate is not None and report.gate["docs"] == gate_docs
    runnable = 28  # every document but the malformed line and the one without text
    other = "fp32" if chosen == "int8" else "int8"
    assert rows_seen == {chosen: runnable + again, other: gate_docs - 1}

    # The records are those of the chunks run one by one in the chosen precision, in order.
    records = list(read_records(output))
    local.configure(settings, threads=1, backend="onnx")
    expected: list[dict[str, Any]] = []
    before = local.stats().tokens
    for msg in job.messages("again"):
        expected.extend(local.run_chunk(msg.__class__(**{**msg.__dict__, "precision": chosen})))
    assert records == expected
    assert [r["id"] for r in records][:6] == [0, 1, f"{corpus}:3", 3, 4, 5]
    assert report.docs == 30 and report.chunks == 8 and report.errors == 2
    assert report.tokens == local.stats().tokens - before
