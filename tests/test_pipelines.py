"""sentiment and embed give what transformers.pipeline gives, on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from tests.encoder_models import BACKENDS
from tests.engines import engine
from tests.helpers import SENTIMENT_TEXTS, run_texts
from worker.pipelines.batching import plan_batches

TEXTS = SENTIMENT_TEXTS


@pytest.fixture(autouse=True)
def _engine(settings: Settings) -> None:
    engine.configure(settings, threads=1, backend="onnx")


@pytest.fixture(params=BACKENDS)
def backend(settings: Settings, request: pytest.FixtureRequest) -> str:
    """The test runs on ONNX Runtime, on OpenVINO, and on the PyTorch fallback."""
    engine.configure(settings, threads=1, backend=request.param)
    return str(request.param)


run = run_texts


@pytest.mark.parametrize("arch", ["tiny_bert", "tiny_distilbert"])
def test_sentiment_matches_the_transformers_pipeline(
    arch: str, backend: str, request: pytest.FixtureRequest
) -> None:
    from transformers import pipeline

    model = request.getfixturevalue(arch)
    ours = run("sentiment", model, TEXTS, batch_size=3)
    theirs = pipeline("text-classification", model=str(model), device="cpu")(TEXTS)
    assert [r["id"] for r in ours] == list(range(len(TEXTS)))
    assert [r["label"] for r in ours] == [t["label"] for t in theirs]
    np.testing.assert_allclose([r["score"] for r in ours], [t["score"] for t in theirs], atol=1e-4)
    # The comparison means something only when the model tells the texts apart.
    assert {r["label"] for r in ours} == {"POSITIVE", "NEGATIVE"}
    assert np.ptp([r["score"] for r in ours]) > 0.05


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_embed_matches_pooled_transformers_features(tiny_bert: Path, pooling: str, backend: str) -> None:
    from transformers import pipeline

    ours = run("embed", tiny_bert, TEXTS, pooling=pooling, normalize=False, batch_size=2)
    features = pipeline("feature-extraction", model=str(tiny_bert), device="cpu")(TEXTS)
    for record, tokens in zip(ours, features, strict=True):
        hidden = np.asarray(tokens[0])
        expected = {"mean": hidden.mean(0), "cls": hidden[0], "max": hidden.max(0)}[pooling]
        np.testing.assert_allclose(record["embedding"], expected, atol=1e-4)


def test_normalized_embeddings_have_unit_length(tiny_distilbert: Path) -> None:
    for record in run("embed", tiny_distilbert, TEXTS):
        assert abs(np.linalg.norm(record["embedding"]) - 1) < 1e-5


def test_records_come_back_in_input_order_whatever_the_length_sort(tiny_bert: Path) -> None:
    texts = [("good " * n).strip() for n in (30, 1, 12, 3, 50, 2, 7)]
    batched = run("embed", tiny_bert, texts, batch_size=2, max_batch_tokens=64)
    alone = [run("embed", tiny_bert, [t])[0]["embedding"] for t in texts]
    for record, single in zip(batched, alone, strict=True):
        np.testing.assert_allclose(record["embedding"], single, atol=1e-5)


@pytest.mark.parametrize("arch", ["tiny_bert", "tiny_distilbert"])
def test_a_text_longer_than_the_model_limit_is_truncated_not_failed(
    arch: str, backend: str, request: pytest.FixtureRequest
) -> None:
    from transformers import pipeline

    model = request.getfixturevalue(arch)
    # 128 positions: [CLS], 126 words, [SEP]. What lies past them cannot change the result;
    # what lies within them does.
    head, tail, other = "good " * 126, "bad boring awful " * 300, "terrible " * 126
    records = run("sentiment", model, [head + tail, head, other + tail])
    assert "error" not in records[0]
    # The same 128 tokens, so the same label and score; PyTorch's batched kernels may round the
    # two rows of one batch apart by a few 1e-8 (seen on a Xeon with AMX), hence the tolerance.
    assert records[0]["label"] == records[1]["label"]
    assert abs(records[0]["score"] - records[1]["score"]) < 1e-6
    assert abs(records[0]["score"] - records[2]["score"]) > 1e-3 or records[0]["label"] != records[2]["label"]
    [theirs] = pipeline("text-classification", model=str(model), device="cpu")([head + tail], truncation=True)
    assert records[0]["label"] == theirs["label"]
    assert abs(records[0]["score"] - theirs["score"]) < 1e-4


def test_documents_with_missing_or_non_text_fields_get_error_records(tiny_bert: Path) -> None:
    docs = [
        {"id": "a", "text": "good"},
        {"id": "b"},
        {"id": "c", "text": 42},
        {"id": "d", "error": {"type": "MalformedInput", "message": "x.jsonl:4: invalid JSON"}},
    ]
    msg = ChunkMessage(job_id="t", index=0, task="sentiment", model=str(tiny_bert), docs=docs)
    records = engine.run_chunk(msg)
    assert [r["id"] for r in records] == ["a", "b", "c", "d"]
    assert "label" in records[0]
    assert records[1]["error"] == {"type": "DocumentError", "message": "missing field 'text'"}
    assert records[2]["error"]["message"] == "field 'text' must be a string, got int"
    assert records[3]["error"]["type"] == "MalformedInput"


def test_a_batch_failing_in_the_model_is_bisected_to_the_poison_document(
    tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = engine.get_pipeline("sentiment", str(tiny_bert), "fp32", {})
    real = pipe.model.runtime.run
    poison = pipe.tokenizer("the poison apple")["input_ids"]

    def flaky(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for row in feeds["input_ids"]:
            if list(row[: len(poison)]) == poison:
                raise RuntimeError("model blew up")
        return real(feeds)

    monkeypatch.setattr(pipe.model.runtime, "run", flaky)
    docs = [{"id": i, "text": t} for i, t in enumerate(["good", "the poison apple", "bad", "ok", "fine"])]
    records = pipe(docs)
    assert [("error" in r) for r in records] == [False, True, False, False, False]
    assert records[1]["error"] == {"type": "RuntimeError", "message": "model blew up"}


def test_batches_are_formed_by_length_under_the_token_budget() -> None:
    lengths = [5, 100, 6, 98, 7, 50]
    batches = plan_batches(lengths, batch_size=8, max_tokens=200)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 200 or len(batch) == 1
    assert batches == [[0, 2, 4, 5], [3, 1]]  # short ones together, long ones apart
    assert plan_batches([500], batch_size=8, max_tokens=100) == [[0]]


def test_the_thread_budget_never_oversubscribes_the_cores() -> None:
    assert engine.thread_budget(2, cores=2) == 1
    assert engine.thread_budget(1, cores=8) == 8
    assert engine.thread_budget(3, cores=8) == 2
    assert engine.thread_budget(16, cores=2) == 1


def test_the_packaged_minilm_ranks_related_sentences_above_unrelated(minilm: str) -> None:
    texts = [
        "A man is playing a guitar on stage.",
        "Someone performs music with a guitar in front of an audience.",
        "The quarterly tax report is due next Monday.",
    ]
    a, b, c = (np.asarray(r["embedding"]) for r in run("embed", minilm, texts))
    assert float(a @ b) > float(a @ c) + 0.3


def test_cpu_batches_stay_small_unless_the_job_asks_for_larger(
    tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a CPU, batches of at most CPU_MAX_BATCH_TOKENS padded tokens ran faster than large ones
    # (activations stay in cache) and peak lower; `max_batch_tokens` still sets the budget.
    from worker.pipelines.batching import CPU_MAX_BATCH_TOKENS

    texts = [("good " * 63 + word) for word in "a b c d e f g h i j".split()]  # one length: no padding

    def padded_per_call(**params: object) -> list[int]:
        pipe = engine.get_pipeline("sentiment", str(tiny_bert), "fp32", params)
        real, seen = pipe.model.runtime.run, []

        def spy(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            seen.append(int(feeds["input_ids"].size))
            return real(feeds)

        monkeypatch.setattr(pipe.model.runtime, "run", spy)
        pipe([{"id": i, "text": t} for i, t in enumerate(texts)])
        return seen

    default = padded_per_call()
    assert sum(default) >= 10 * 64 and len(default) > 1
    assert max(default) <= CPU_MAX_BATCH_TOKENS
    assert len(padded_per_call(max_batch_tokens=8192)) == 1  # all ten in one call


def test_the_default_token_budget_is_the_gpu_one_for_a_runtime_that_reports_cuda() -> None:
    from types import SimpleNamespace

    from worker.pipelines.batching import CPU_MAX_BATCH_TOKENS, GPU_MAX_BATCH_TOKENS, default_max_tokens

    assert default_max_tokens(SimpleNamespace(on_cuda=True)) == GPU_MAX_BATCH_TOKENS  # ONNX Runtime, CUDA
    assert default_max_tokens(SimpleNamespace(device="cuda:0")) == GPU_MAX_BATCH_TOKENS  # PyTorch
    assert default_max_tokens(SimpleNamespace(on_cuda=False)) == CPU_MAX_BATCH_TOKENS
    assert default_max_tokens(SimpleNamespace(device="cpu")) == CPU_MAX_BATCH_TOKENS
    assert default_max_tokens(SimpleNamespace(max_batch_tokens=2048, on_cuda=False)) == 2048  # its own
    assert GPU_MAX_BATCH_TOKENS > CPU_MAX_BATCH_TOKENS
