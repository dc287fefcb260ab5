"""`--precision auto` takes int8 only where it is faster on this CPU, and the verdict is kept.

The gate times fp32 and int8 on the same features; these tests slow one precision's runtime
down on purpose, so that the speed the gate measures is known, whatever the machine.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import worker.gate
from nlpbatch.gating import GateOptions
from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from producer.cli import main
from tests.conftest import write_jsonl
from worker import tuning
from worker.engine import Engine

TEXTS = [
    f"review {i}: the {'battery' if i % 2 else 'screen'} is {'good' if i % 3 else 'bad'}" for i in range(24)
]


@pytest.fixture
def home(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of its own (its verdicts private) over the session's exports, with reuse on."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "onnx").symlink_to(settings.onnx_dir.resolve(), target_is_directory=True)
    monkeypatch.setenv("NLPBATCH_REUSE_VERDICTS", "1")
    monkeypatch.delenv("NLPBATCH_INT8_MIN_SPEEDUP", raising=False)
    return home


def slowed(
    engine: Engine, model: Path, precision: str, monkeypatch: pytest.MonkeyPatch, delay: float
) -> list[int]:
    """Make `precision`'s runtime take `delay` seconds more per call; the calls it gets."""
    runtime = engine.model("sentiment", str(model), precision).runtime
    real = runtime.run
    calls: list[int] = []

    def slow(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls.append(1)
        time.sleep(delay)
        return dict(real(feeds))

    monkeypatch.setattr(runtime, "run", slow)
    return calls


def gate(engine: Engine, model: Path, requested: str) -> Any:
    docs = [{"id": i, "text": t} for i, t in enumerate(TEXTS)]
    msg = ChunkMessage("t", 0, "sentiment", str(model), docs, {}, precision=requested)
    options = GateOptions(threshold=0.0, docs=len(docs), max_docs=len(docs))
    return engine.decide(iter([msg]), options, requested=requested).gate


def test_auto_runs_fp32_where_int8_is_slower_and_int8_where_it_is_faster(
    tiny_bert: Path, home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NLPBATCH_REUSE_VERDICTS", "0")
    slow_int8 = Engine(home / "onnx", threads=1, backend="onnx")
    slowed(slow_int8, tiny_bert, "int8", monkeypatch, 0.05)
    result = gate(slow_int8, tiny_bert, "auto")
    assert result.passed and result.precision == "fp32", result
    assert result.speedup is not None and result.speedup < 1.0
    assert result.int8_seconds > result.fp32_seconds and "x fp32's speed on this CPU" in result.why
    assert result.cpu == tuning.describe_cpu()

    # Asked for int8, a slower int8 still runs, with a warning that says so. (The first gate
    # unloaded the int8 model it did not choose: slow the one loaded now.)
    slowed(slow_int8, tiny_bert, "int8", monkeypatch, 0.05)
    with caplog.at_level(logging.WARNING, logger="nlpbatch.gate"):
        forced = gate(slow_int8, tiny_bert, "int8")
    assert forced.precision == "int8" and forced.speedup is not None and forced.speedup < 1.0
    assert any("int8 runs at" in r.message and "running int8 as asked" in r.message for r in caplog.records)

    slow_fp32 = Engine(home / "onnx", threads=1, backend="onnx")
    slowed(slow_fp32, tiny_bert, "fp32", monkeypatch, 0.05)
    faster = gate(slow_fp32, tiny_bert, "auto")
    assert faster.passed and faster.precision == "int8" and faster.speedup is not None
    assert faster.speedup > tuning.SPEED_MARGIN and faster.why == ""


def test_the_verdict_is_kept_and_reused_until_the_cpu_or_the_model_changes(
    tiny_bert: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(home / "onnx", threads=1, backend="onnx")
    calls = slowed(engine, tiny_bert, "int8", monkeypatch, 0.05)
    first = gate(engine, tiny_bert, "auto")
    assert first.precision == "fp32" and first.reused_from == "" and calls
    kept = list((home / "verdicts").glob("*.json"))
    assert len(kept) == 1
    stored = json.loads(kept[0].read_text())
    assert stored["key"]["cpu"] == tuning.cpu() and stored["key"]["task"] == "sentiment"
    assert stored["gate"]["speedup"] == round(first.speedup, 3)

    measured: list[int] = []
    real_both = worker.gate._Both

    def counting(*args: Any) -> Any:
        measured.append(1)
        return real_both(*args)

    monkeypatch.setattr(worker.gate, "_Both", counting)
    again = gate(engine, tiny_bert, "auto")
    assert again.reused_from and again.precision == "fp32" and again.seconds == 0.0
    assert measured == []  # nothing measured: the kept verdict decided
    # Asked for int8, the kept verdict (int8 passes, but slower) runs int8 as asked.
    assert gate(engine, tiny_bert, "int8").precision == "int8" and measured == []

    # Another CPU (here: another set of flags) measures again and keeps a verdict of its own.
    other = {**tuning.cpu(), "flags": ["avx2", "fma"]}
    monkeypatch.setattr(tuning, "cpu", lambda: other)
    moved = gate(engine, tiny_bert, "auto")
    assert moved.reused_from == "" and moved.docs == len(TEXTS) and measured == [1]
    assert len(list((home / "verdicts").glob("*.json"))) == 2

    # An edited model measures again too.
    edited = tmp_path / "edited"
    shutil.copytree(tiny_bert, edited)
    config = json.loads((edited / "config.json").read_text())
    (edited / "config.json").write_text(json.dumps({**config, "layer_norm_eps": 1e-6}))
    engine_edited = Engine(home / "onnx", threads=1, backend="onnx")
    assert gate(engine_edited, edited, "auto").reused_from == "" and measured == [1, 1]
    assert len(list((home / "verdicts").glob("*.json"))) == 3


def test_models_tune_measures_ahead_and_models_list_shows_the_verdict(
    tiny_bert: Path, home: Path, tmp_path: Path
) -> None:
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    runner = CliRunner()
    env = {"NLPBATCH_HOME": str(home)}
    tuned = runner.invoke(
        main,
        ["models", "tune", str(tiny_bert), "-t", "sentiment", "--docs", str(docs), "--threads", "1"],
        env=env,
    )
    assert tuned.exit_code == 0, tuned.output
    assert "fp32" in tuned.output and "int8" in tuned.output and "x fp32" in tuned.output
    assert len(list((home / "verdicts").glob("*.json"))) == 1
    listed = runner.invoke(main, ["models", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "VERDICTS" in listed.output and str(tiny_bert) in listed.output and "sentiment" in listed.output

    # A run with the same model, task and threads reuses it: its report says so, no gate runs.
    out = tmp_path / "out.jsonl"
    ran = runner.invoke(
        main,
        ["run", str(docs), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out), "--precision", "auto",
         "--threads", "1", "--gate-threshold", "0.99", "--json"],
        env=env,
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    report = json.loads(Path(f"{out}.report.json").read_text())
    assert report["gate"]["reused_from"], report["gate"]
    assert report["gate_seconds"] == 0.0 and report["gate_docs_reused"] == 0
