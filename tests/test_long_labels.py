"""`-p long=window`: a long text's label is judged on all its windows, as transformers would score them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nlpbatch.settings import Settings
from tests.encoder_models import NLI_LABELS
from tests.engines import engine
from tests.helpers import run_fields, run_texts

LABELS = ("negative", "neutral", "positive")
SENTENCES = [
    "john lives in london and mary works for apple in paris .",
    "i love this movie , a great film .",
    "the battery broke and it is boring .",
    "서울 😀 is a great city",
]
# About 100 to 400 tokens each: one to several windows of the tiny models' 128.
LONG = [" ".join(SENTENCES[i % 4 :] + SENTENCES * n) for i, n in enumerate((2, 5, 9))]
STRIDE = 16


@pytest.fixture(autouse=True)
def _engine(settings: Settings) -> None:
    engine.configure(settings, threads=1, backend="onnx")


def reference_logits(model: Path, text: str, pair: str | None = None) -> np.ndarray:
    """The transformers model's logits on each window of `text`, one window per call."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model))
    net = AutoModelForSequenceClassification.from_pretrained(str(model)).eval()
    enc = tok(
        text,
        pair,
        truncation="only_first" if pair is not None else True,
        max_length=128,
        stride=STRIDE,
        return_overflowing_tokens=True,
        return_token_type_ids=True,
    )
    rows = []
    with torch.no_grad():
        for ids, types in zip(enc["input_ids"], enc["token_type_ids"], strict=True):
            out = net(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types]))
            rows.append(out.logits[0].double().numpy())
    return np.stack(rows)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("how", ["mean", "max"])
def test_sentiment_windows_aggregate_the_transformers_logits(
    tiny_models: Callable[..., Path], how: str
) -> None:
    model = tiny_models("bert", "text-classification", LABELS)
    records = run_texts(
        "sentiment", model, LONG, long="window", long_aggregate=how, stride=STRIDE, top_k=None
    )
    assert [r["windows"] for r in records] == [1, 2, 4]
    for record, text in zip(records, LONG, strict=True):
        logits = reference_logits(model, text)
        scores = softmax(logits.mean(axis=0) if how == "mean" else logits.max(axis=0))
        assert record["windows"] == len(logits)
        assert record["label"] == LABELS[int(np.argmax(scores))]
        got = {p["label"]: p["score"] for p in record["predictions"]}
        assert max(abs(got[name] - scores[i]) for i, name in enumerate(LABELS)) < 1e-4


def test_a_short_text_windowed_is_the_truncated_record_with_one_window(
    tiny_models: Callable[..., Path],
) -> None:
    model = tiny_models("bert", "text-classification", LABELS)
    docs = [{"text": t} for t in SENTENCES] + [{"text": "i love it", "text_pair": "a great film"}]
    truncated = run_fields("sentiment", model, docs, top_k=None)
    windowed = run_fields("sentiment", model, docs, top_k=None, long="window")
    assert windowed == [{**r, "windows": 1} for r in truncated]
    nli = tiny_models("bert", "text-classification", tuple(NLI_LABELS))
    short = [{"text": t} for t in SENTENCES]
    truncated = run_fields("zero-shot", nli, short, candidate_labels=["good", "bad"])
    windowed = run_fields("zero-shot", nli, short, candidate_labels=["good", "bad"], long="window")
    assert windowed == [{**r, "windows": 1} for r in truncated]


def test_zero_shot_windows_aggregate_each_label_s_logits(tiny_models: Callable[..., Path]) -> None:
    model = tiny_models("bert", "text-classification", tuple(NLI_LABELS))
    labels = ["sports", "politics", "a great film"]
    records = run_texts("zero-shot", model, LONG, candidate_labels=labels, long="window", stride=STRIDE)
    entail = NLI_LABELS.index("entailment")
    for record, text in zip(records, LONG, strict=True):
        per_label = [reference_logits(model, text, f"This example is {label}.") for label in labels]
        entail_logits = np.array([w.mean(axis=0)[entail] for w in per_label])
        scores = np.exp(entail_logits) / np.exp(entail_logits).sum()
        assert record["windows"] == max(len(w) for w in per_label)
        assert record["labels"][0] == labels[int(np.argmax(scores))]
        got = dict(zip(record["labels"], record["scores"], strict=True))
        assert max(abs(got[name] - scores[i]) for i, name in enumerate(labels)) < 1e-4
    assert records[-1]["windows"] > 2


@pytest.mark.parametrize("task", ["sentiment", "zero-shot"])
def test_a_stride_that_leaves_no_new_tokens_is_refused(tiny_models: Callable[..., Path], task: str) -> None:
    from nlpbatch.errors import InvalidParameter

    model = tiny_models("bert", "text-classification", tuple(NLI_LABELS))
    with pytest.raises(InvalidParameter, match="stride must be between 0 and 125"):
        labels = {"candidate_labels": ["a"]} if task == "zero-shot" else {}
        run_texts(task, model, ["a text"], long="window", stride=126, **labels)
