"""--precision int8|auto and its accuracy gate; the job report written beside the output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from producer.cli import main
from tests.engines import engine, run_gate
from tests.test_engine import mixed_texts


@pytest.fixture(autouse=True)
def accuracy_alone() -> Iterator[None]:
    """These tests are about the accuracy verdict: `auto` asks no speed of int8 here (a tiny
    model's timings are noise); tests/test_tuning.py covers the speed half of the choice."""
    # A monkeypatch of its own: tests that call `monkeypatch.undo()` keep this setting.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NLPBATCH_INT8_MIN_SPEEDUP", "0")
        yield


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def report_of(output: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(f"{output}.report.json").read_text())
    return data


def test_int8_falls_back_to_fp32_with_a_warning_when_the_gate_fails(
    tiny_bert: Path, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "emb.jsonl"
    result = CliRunner().invoke(
        main,
        ["run", str(corpus), "-t", "embed", "-m", str(tiny_bert), "-o", str(out),
         "--precision", "int8", "--gate-threshold", "1.0"],
        catch_exceptions=False,
    )  # fmt: skip
    code, stdout = result.exit_code, result.stdout
    assert code == 0, stdout
    assert "int8 accuracy gate failed" in result.stderr and "running in fp32" in result.stderr
    report = report_of(out)
    assert report["precision"] == "fp32"
    gate = report["gate"]
    assert gate["requested"] == "int8" and gate["passed"] is False and gate["metric"] == "cosine"
    assert gate["docs"] == 7
    assert gate["value"] < 1.0 and gate["threshold"] == 1.0
    # Reported beside the cosine, never deciding: the neighbours a search over the 7 vectors sees.
    assert 0.0 <= gate["also"]["neighbour_overlap_at_10"] <= 1.0
    assert "int8 gate failed" in stdout and "neighbour_overlap_at_10" in stdout


def test_auto_picks_int8_for_minilm_when_per_channel_int8_keeps_cosine_above_099(
    minilm: str, tmp_path: Path
) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(mixed_texts(64, seed=5)) + "\n")
    out = tmp_path / "emb.jsonl"
    code, stdout = run_cli(
        "run", str(corpus), "-t", "embed", "-m", minilm, "-o", str(out), "--precision", "auto"
    )
    assert code == 0, stdout
    report = report_of(out)
    assert report["precision"] == "int8", report["gate"]
    assert report["gate"]["passed"] is True and report["gate"]["value"] >= 0.99


def test_the_gate_falls_back_when_the_int8_classifier_disagrees_on_labels(
    tiny_bert: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.configure(settings, threads=1, backend="onnx")
    fp32 = engine.get_model("sentiment", str(tiny_bert), "fp32").runtime
    int8 = engine.get_model("sentiment", str(tiny_bert), "int8").runtime
    real = int8.run

    def flipped(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = real(feeds)
        return {**out, "logits": out["logits"][:, ::-1]}  # every label swapped

    # Both sides run the int8 graph, one of them flipped: the labels differ by the flip alone,
    # never by what int8 rounding does to fp32's labels, which depends on the CPU's kernels.
    # The 20 texts int8 decides most clearly: a flip leaves an exact tie's label as it was.
    texts = mixed_texts(60, seed=6)
    chunk = [{"id": i, "text": t} for i, t in enumerate(texts)]
    msg = ChunkMessage(
        job_id="t", index=0, task="sentiment", model=str(tiny_bert), docs=chunk, precision="int8"
    )
    scores = [r["score"] for r in engine.run_chunk(msg)]
    clearest = sorted(range(len(texts)), key=lambda i: -scores[i])[:20]
    docs = [{"id": n, "text": texts[i]} for n, i in enumerate(clearest)]
    monkeypatch.setattr(fp32, "run", real)
    same = run_gate("sentiment", str(tiny_bert), {}, docs, requested="auto")
    assert same.precision == "int8" and same.passed and same.value == 1.0
    monkeypatch.setattr(int8, "run", flipped)
    result = run_gate("sentiment", str(tiny_bert), {}, docs, requested="auto")
    assert result.precision == "fp32" and not result.passed
    assert result.metric == "label_agreement" and result.value == 0.0 and result.threshold == 0.99


def test_the_gate_tokenizes_its_documents_once_for_both_precisions(
    tiny_bert: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.configure(settings, threads=1, backend="onnx")
    tokenizer_cls = type(engine.get_model("sentiment", str(tiny_bert), "fp32").tokenizer)
    seen: list[str] = []
    real = tokenizer_cls.__call__

    def counting(self: Any, text: Any, *args: Any, **kwargs: Any) -> Any:
        seen.extend([text] if isinstance(text, str) else text)
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(tokenizer_cls, "__call__", counting)
    texts = mixed_texts(12, seed=7)
    result = run_gate(
        "sentiment", str(tiny_bert), {}, [{"id": i, "text": t} for i, t in enumerate(texts)], requested="int8"
    )
    assert result.docs == 12
    assert sorted(seen) == sorted(texts)


def test_fp32_jobs_skip_the_gate_and_the_report_has_every_figure(
    tiny_distilbert: Path, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.jsonl"
    code, stdout = run_cli(
        "run", str(corpus), "-t", "sentiment", "-m", str(tiny_distilbert), "-o", str(out), "--threads", "1"
    )
    assert code == 0, stdout
    report = report_of(out)
    assert report["gate"] is None and report["precision"] == "fp32"
    assert report["docs"] == 7 and report["threads"] == 1 and report["processes"] == 1
    assert report["tokens"] > 0 and report["tokens_per_second"] > 0 and report["docs_per_second"] > 0
    assert 0 <= report["padding_waste"] < 1 and report["peak_rss_mb"] > 50
    assert f"{out}.report.json" in stdout


def test_an_unknown_precision_is_refused_before_any_work(
    tiny_bert: Path, corpus: Path, tmp_path: Path
) -> None:
    code, _ = run_cli(
        "run",
        str(corpus),
        "-t",
        "embed",
        "-m",
        str(tiny_bert),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--precision",
        "int4",
    )
    assert code == 2


def test_every_task_that_runs_a_model_has_an_int8_comparison() -> None:
    from worker.pipelines import PIPELINES

    assert {name for name, cls in PIPELINES.items() if cls.runs_model and cls.comparison is None} == set()


def test_ner_and_qa_gates_compare_spans_on_the_jobs_own_documents(
    tiny_models: Any, settings: Settings
) -> None:
    engine.configure(settings, threads=1, backend="onnx")
    texts = mixed_texts(16, seed=9)
    ner = run_gate(
        "ner", str(tiny_models("bert", "token-classification")), {},
        [{"id": i, "text": t} for i, t in enumerate(texts)], requested="auto",
    )  # fmt: skip
    qa_docs = [{"id": i, "question": "what is it ?", "context": t} for i, t in enumerate(texts)]
    qa = run_gate("qa", str(tiny_models("bert", "question-answering")), {}, qa_docs, requested="auto")
    for result in (ner, qa):
        assert result.metric == "span_agreement" and result.docs == 16
        assert result.value is not None and 0.0 <= result.value <= 1.0
        assert result.precision == ("int8" if result.value >= 0.99 else "fp32")


def test_the_generate_gate_compares_the_generated_texts(tiny_gpt2: Path, settings: Settings) -> None:
    engine.configure(settings, threads=1, backend="onnx")
    docs = [{"id": i, "text": t} for i, t in enumerate(mixed_texts(6, seed=10))]
    result = run_gate("generate", str(tiny_gpt2), {"max_new_tokens": 4}, docs, requested="int8")
    assert result.metric == "text_agreement" and result.docs == 6
    assert result.value is not None and result.value in {i / 6 for i in range(7)}
    assert result.precision == ("int8" if result.passed else "fp32")


def _negated(run: Any) -> Any:
    """A runtime's `run` whose every output is negated: labels, spans and embeddings all change."""

    def broken(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: -value for name, value in run(feeds).items()}

    return broken


def _shifted(generate: Any) -> Any:
    """A generation runtime's `generate` that writes the next vocabulary entry for each new token."""

    def broken(input_ids: np.ndarray, attention_mask: np.ndarray, **kwargs: Any) -> np.ndarray:
        out = generate(input_ids, attention_mask, **kwargs).copy()
        new = out[:, input_ids.shape[1] :]
        out[:, input_ids.shape[1] :] = (new + 1) % 64 + 16  # ordinary tokens, never the one generated
        return out

    return broken


GATED: dict[str, tuple[Any, dict[str, Any], str]] = {
    # task: (the model's fixture, or tiny_models' arguments; params; metric)
    "embed": ("tiny_bert", {}, "cosine"),
    "sentiment": ("tiny_bert", {}, "label_agreement"),
    "ner": (("bert", "token-classification"), {}, "span_agreement"),
    "qa": (("bert", "question-answering"), {}, "span_agreement"),
    "generate": ("tiny_gpt2", {"max_new_tokens": 4}, "text_agreement"),
}


@pytest.mark.parametrize("task", list(GATED))
def test_the_same_gate_passes_a_sound_int8_model_and_fails_a_broken_one(
    task: str, request: pytest.FixtureRequest, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    which, params, metric = GATED[task]
    built = (
        request.getfixturevalue(which)
        if isinstance(which, str)
        else request.getfixturevalue("tiny_models")(*which)
    )
    model = str(built)
    texts = mixed_texts(12, seed=11)
    if task == "qa":
        docs = [{"id": i, "question": "what is it ?", "context": t} for i, t in enumerate(texts)]
    else:
        docs = [{"id": i, "text": t} for i, t in enumerate(texts)]
    engine.configure(settings, threads=1, backend="onnx")
    method = "generate" if task == "generate" else "run"
    decisions = {}
    for case in ("broken", "sound"):
        fp32 = engine.get_model(task, model, "fp32", params).runtime
        int8 = engine.get_model(task, model, "int8", params).runtime
        # Sound: int8 computes exactly what fp32 computes. Broken: int8's outputs are wrong.
        real = getattr(fp32, method)
        monkeypatch.setattr(
            int8, method, real if case == "sound" else (_shifted if task == "generate" else _negated)(real)
        )
        decisions[case] = run_gate(task, model, params, docs, requested="auto")
        monkeypatch.undo()
    sound, broken = decisions["sound"], decisions["broken"]
    assert sound.metric == broken.metric == metric
    assert sound.passed and sound.precision == "int8" and sound.value == pytest.approx(1.0)
    assert not broken.passed and broken.precision == "fp32" and broken.value < 0.5, broken
