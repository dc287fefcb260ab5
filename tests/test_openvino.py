"""`--backend openvino`: the records of ONNX Runtime, NNCF int8 behind the gate, clear refusals.

The parity tests of each task against transformers itself run on OpenVINO too (BACKENDS in
tests/encoder_models.py); here OpenVINO is compared with ONNX Runtime record by record.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from nlpbatch.outputs.records import read_records
from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from producer.cli import main
from tests.conftest import write_jsonl
from tests.encoder_models import assert_same
from tests.engines import engine
from tests.test_engine import mixed_texts

TEXTS = [
    "i love this movie",
    "john lives in london and mary works for apple in paris .",
    "the battery broke after a week , very bad",
    " ".join(["the screen works and the sound is good but the price was expensive ."] * 12),
    "boring",
]


def records(backend: str, settings: Settings, task: str, model: str, precision: str = "fp32") -> list[dict]:
    engine.configure(settings, threads=1, backend=backend)
    docs = [{"id": i, "text": t} for i, t in enumerate(TEXTS)]
    return engine.run_chunk(ChunkMessage("t", 0, task, model, docs, {}, precision=precision))


def cosines(a: list[dict], b: list[dict]) -> list[float]:
    out = []
    for x, y in zip(a, b, strict=True):
        u, v = np.asarray(x["embedding"]), np.asarray(y["embedding"])
        out.append(float(u @ v / np.linalg.norm(u) / np.linalg.norm(v)))
    return out


@pytest.mark.parametrize(
    ("task", "model_args"),
    [
        ("sentiment", ("bert", "text-classification", ("NEGATIVE", "POSITIVE"))),
        ("ner", ("bert", "token-classification")),
        ("embed", ("bert", "feature-extraction")),
        ("sentiment", ("distilbert", "text-classification", ("NEGATIVE", "POSITIVE"))),
    ],
    ids=["sentiment-bert", "ner-bert", "embed-bert", "sentiment-distilbert"],
)
def test_openvino_gives_the_onnx_records_on_tiny_models(
    settings: Settings, tiny_models: Callable[..., Path], task: str, model_args: tuple
) -> None:
    model = str(tiny_models(*model_args))
    onnx = records("onnx", settings, task, model)
    openvino = records("openvino", settings, task, model)
    assert engine.get_model(task, model, "fp32").runtime.backend == "openvino"
    assert_same(openvino, onnx)  # labels, spans and tokens equal; scores and vectors within 1e-4


def test_openvino_embeds_like_onnx_with_the_packaged_minilm(minilm: str, settings: Settings) -> None:
    onnx = records("onnx", settings, "embed", minilm)
    openvino = records("openvino", settings, "embed", minilm)
    assert [r["id"] for r in openvino] == [r["id"] for r in onnx]
    assert min(cosines(openvino, onnx)) > 0.99999
    for a, b in zip(openvino, onnx, strict=True):
        assert np.allclose(a["embedding"], b["embedding"], atol=1e-4)


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_nncf_int8_passes_the_gate_on_minilm_and_is_what_runs(minilm: str, tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(mixed_texts(64, seed=5)) + "\n")
    out = tmp_path / "emb.jsonl"
    code, stdout, stderr = run_cli(
        "run", str(corpus), "-t", "embed", "-m", minilm, "-o", str(out),
        "--backend", "openvino", "--precision", "int8", "--threads", "2",
    )  # fmt: skip
    assert code == 0, stderr
    report: dict[str, Any] = json.loads(Path(f"{out}.report.json").read_text())
    assert report["backend"] == "openvino" and report["precision"] == "int8", report["gate"]
    assert report["gate"]["passed"] is True and report["gate"]["value"] >= 0.99
    assert "openvino/int8" in stdout
    # What ran is int8: its vectors are close to fp32's on the same documents, not equal to them.
    fp32_out = tmp_path / "emb32.jsonl"
    code, _, stderr = run_cli(
        "run", str(corpus), "-t", "embed", "-m", minilm, "-o", str(fp32_out), "--backend", "openvino"
    )  # fmt: skip
    assert code == 0, stderr
    int8, fp32 = list(read_records(out)), list(read_records(fp32_out))
    assert len(int8) == 64
    assert min(cosines(int8, fp32)) >= 0.98
    same = [np.allclose(a["embedding"], b["embedding"], atol=1e-4) for a, b in zip(int8, fp32, strict=True)]
    assert not all(same)


def test_nncf_int8_is_cached_as_its_own_export_and_listed(minilm: str, settings: Settings) -> None:
    engine.configure(settings, threads=1, backend="openvino")
    runtime = engine.get_model("embed", minilm, "int8").runtime
    assert (runtime.backend, runtime.precision) == ("openvino", "int8")
    code, stdout, _ = run_cli("models", "list")
    assert code == 0
    listed = {line.split()[2] for line in stdout.splitlines()[1:] if minilm in line}
    assert {"openvino-fp32", "openvino-int8"} <= listed


def test_a_missing_openvino_extra_is_a_usage_error(
    corpus: Path, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if it were not installed
    code, _, stderr = run_cli(
        "run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(tmp_path / "o.jsonl"),
        "--backend", "openvino",
    )  # fmt: skip
    assert code == 2
    assert "install nlpbatch[openvino]" in stderr
    assert not (tmp_path / "o.jsonl").exists()
    code, _, stderr = run_cli("worker", "--backend", "openvino")
    assert code == 2 and "install nlpbatch[openvino]" in stderr


@pytest.mark.parametrize("task", ["summarize", "translate", "generate"])
def test_openvino_refuses_the_generative_tasks(task: str, tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": 1, "text": "a long text to shorten"}])
    code, _, stderr = run_cli(
        "run", str(corpus), "-t", task, "-o", str(tmp_path / "o.jsonl"), "--backend", "openvino"
    )
    assert code == 2
    assert f"task {task!r} generates text" in stderr and "--backend onnx or torch" in stderr


def test_nncf_int8_is_the_same_model_on_every_machine(tiny_bert: Path, tmp_path: Path) -> None:
    from nlpbatch.modelref import resolve
    from worker.models.openvino_store import openvino_model_dir

    # Two empty caches: each exports, then quantizes on the fixed calibration texts.
    a, b = (
        openvino_model_dir(resolve(str(tiny_bert)), "text-classification", "int8", tmp_path / n) for n in "ab"
    )
    assert (a / "openvino_model.bin").read_bytes() == (b / "openvino_model.bin").read_bytes()
    assert (a / "openvino_model.xml").read_bytes() == (b / "openvino_model.xml").read_bytes()
    assert not list((tmp_path / "a").glob(".*"))  # no temporary folder left behind
