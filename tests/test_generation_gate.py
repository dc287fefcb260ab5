"""The int8 gate on generated text: it passes a sound int8, falls back on a broken one, counts its time."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from nlpbatch.outputs.records import read_records
from producer.cli import main
from tests.conftest import write_jsonl
from tests.families import TEXTS
from worker.pipelines.base import Pipeline

pytest.importorskip("ctranslate2")

ROWS = [{"id": f"d{i}", "text": f"{TEXTS[i % len(TEXTS)]} number {i}"} for i in range(12)]


def summarize(model: Path, tmp_path: Path, *extra: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    source = write_jsonl(tmp_path / "corpus.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    args = [
        "run", str(source), "-t", "summarize", "-m", str(model), "-o", str(out), "--backend", "ctranslate2",
        "--precision", "int8", "--gate-docs", "32", "--chunk-size", "4", "--threads", "1",
        "--param", "max_new_tokens=8", "--param", "num_beams=1", "--json", *extra,
    ]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), list(read_records(out))


def int8_as(monkeypatch: pytest.MonkeyPatch, change: Callable[[str], str]) -> None:
    """The int8 pipeline runs the fp32 model (CTranslate2 float32), its texts passed through `change`."""
    import worker.runtime.ctranslate2 as ct2

    monkeypatch.setitem(ct2.COMPUTE_TYPES, "int8", "float32")
    real = Pipeline.run_encoded

    def run(self: Pipeline, docs: list[Any], encoded: Any) -> Any:
        if self.model.runtime.precision != "int8":
            return real(self, docs, encoded)
        records = real(self, docs, encoded)
        return [{**r, "summary_text": change(r["summary_text"])} if "error" not in r else r for r in records]

    monkeypatch.setattr(Pipeline, "run_encoded", run)


def test_a_sound_int8_passes_the_gate_and_the_report_counts_the_gates_model_time(
    family_generators: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    int8_as(monkeypatch, lambda text: text)  # int8 writes exactly what fp32 writes
    report, records = summarize(family_generators("bart"), tmp_path)
    gate = report["gate"]
    assert (report["precision"], gate["passed"], gate["docs"]) == ("int8", True, len(ROWS))
    assert gate["value"] == 1.0 and gate["also"] == {"token_agreement": 1.0}
    # Every document was computed by the gate, so the chunks took no model time of their own;
    # the report still counts the gate's.
    assert report["gate_docs_reused"] == len(ROWS) and len(records) == len(ROWS)
    assert gate["model_seconds"] > 0
    assert report["model_seconds"] == pytest.approx(report["seconds"] + gate["model_seconds"], abs=2e-3)
    assert report["model_seconds"] >= gate["model_seconds"] > 0


def test_an_int8_that_drops_words_fails_the_gate_and_the_job_runs_in_fp32(
    family_generators: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    int8_as(monkeypatch, lambda text: " ".join(text.split()[:-1]))  # the last word dropped
    report, records = summarize(family_generators("bart"), tmp_path)
    gate = report["gate"]
    assert (report["precision"], gate["passed"]) == ("fp32", False)
    assert gate["value"] < 0.99 and "text_agreement" in gate["reason"]
    words = [len(r["summary_text"].split()) for r in records]
    # Token agreement: the same words but the last one, so the share of positions that agree.
    expected = sum(n - 1 for n in words if n) / sum(words)
    assert gate["also"]["token_agreement"] == pytest.approx(expected, abs=1e-6)
    assert 0 < gate["also"]["token_agreement"] < 1
    # The fp32 records are written, whole.
    assert all(n > 0 for n in words)
