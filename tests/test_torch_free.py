"""On CPU, ONNX and OpenVINO jobs never load PyTorch, nor transformers.

Only the one-off ONNX export and NNCF's int8 quantization, each in a child process, do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nlpbatch.outputs.records import read_records
from tests.conftest import write_jsonl

RUN = textwrap.dedent(
    """
    import json, sys
    from producer.cli import main

    try:
        main(sys.argv[1:], prog_name="nlpbatch")
    except SystemExit as exc:
        code = exc.code
    heavy = sorted(
        name
        for name in ("torch", "onnxruntime", "openvino", "nncf", "transformers", "redis")
        if name in sys.modules
    )
    print(json.dumps({"code": code, "heavy": heavy}))
    """
)


def run_in_fresh_process(home: Path, *args: str) -> list[str]:
    """`nlpbatch ARGS` in a new interpreter; the heavy libraries it had imported at the end."""
    env = {**os.environ, "NLPBATCH_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] in (0, None), done.stderr
    return list(result["heavy"])


@pytest.mark.parametrize(
    ("task", "precision"), [("embed", "fp32"), ("sentiment", "fp32"), ("sentiment", "auto")]
)
def test_an_onnx_run_on_cpu_never_imports_torch(
    task: str, precision: str, tiny_bert: Path, tmp_path: Path
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"id": i, "text": f"review {i}"} for i in range(10)])
    home = tmp_path / "home"
    job = [str(corpus), "--task", task, "--model", str(tiny_bert), "--precision", precision]
    # The first run exports the model (in a child process), the second finds the export cached.
    for attempt in ("first", "cached"):
        output = tmp_path / f"{attempt}.jsonl"
        heavy = run_in_fresh_process(home, "run", *job, "-o", str(output), "--threads", "1")
        assert "torch" not in heavy
        # Tokenizer and config come from tokenizer.json and config.json: no transformers.
        assert "transformers" not in heavy
        # A run to a local file never talks to Redis: its client (~20 MiB) stays out too.
        assert "redis" not in heavy
        assert "onnxruntime" in heavy  # it did run the model
        assert [r["id"] for r in read_records(output)] == list(range(10))
        assert not any("error" in r for r in read_records(output))


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_an_openvino_run_on_cpu_never_imports_torch(precision: str, tiny_bert: Path, tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"id": i, "text": f"review {i}"} for i in range(10)])
    home = tmp_path / "home"
    job = [str(corpus), "--task", "sentiment", "--model", str(tiny_bert), "--precision", precision]
    job += ["--backend", "openvino", "--gate-threshold", "0"]  # int8: NNCF quantizes on first use
    for attempt in ("first", "cached"):
        output = tmp_path / f"{attempt}.jsonl"
        heavy = run_in_fresh_process(home, "run", *job, "-o", str(output), "--threads", "1")
        assert "torch" not in heavy and "nncf" not in heavy and "transformers" not in heavy
        assert "openvino" in heavy  # it did run the model
        report = json.loads(Path(f"{output}.report.json").read_text())
        assert (report["backend"], report["precision"]) == ("openvino", precision)
        assert [r["id"] for r in read_records(output)] == list(range(10))
