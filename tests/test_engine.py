"""The throughput engine: length-sorted windows, little padding, each text tokenized once."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from tests.engines import engine
from tests.helpers import WORDS
from worker.pipelines.base import BatchStats
from worker.pipelines.batching import MAX_PADDING, MIN_BATCH_TOKENS, plan_batches


@pytest.fixture(autouse=True)
def _engine(settings: Settings) -> None:
    engine.configure(settings, threads=1, backend="onnx")


def mixed_texts(n: int, seed: int = 0) -> list[str]:
    """Deterministic texts of 5 to 110 words (the tiny models read 128 tokens at most)."""
    rng = random.Random(seed)
    words = [w for w in WORDS if w.isalpha()]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(5, 110))) for _ in range(n)]


def run_stats(model: Path, texts: list[str], **params: Any) -> tuple[list[dict], BatchStats]:
    pipe = engine.get_pipeline("embed", str(model), "fp32", params)
    pipe.stats = BatchStats()
    docs = [{"id": i, "text": t} for i, t in enumerate(texts)]
    return pipe(docs), pipe.stats


def test_padding_waste_on_a_mixed_length_corpus_is_a_few_percent(tiny_bert: Path) -> None:
    texts = mixed_texts(640)
    _, sorted_stats = run_stats(tiny_bert, texts)
    _, unsorted_stats = run_stats(tiny_bert, texts, sort_window=32)
    assert sorted_stats.padding_waste < 0.05
    # Sorting only within each batch's worth of texts leaves much more padding in.
    assert unsorted_stats.padding_waste > 0.1


def test_records_come_back_in_input_order_across_sort_windows(tiny_bert: Path) -> None:
    texts = mixed_texts(23, seed=1)
    windowed, _ = run_stats(tiny_bert, texts, sort_window=5, batch_size=3)
    assert [r["id"] for r in windowed] == list(range(23))
    for record, text in zip(windowed, texts, strict=True):
        msg = ChunkMessage(
            job_id="t", index=0, task="embed", model=str(tiny_bert), docs=[{"id": 0, "text": text}]
        )
        np.testing.assert_allclose(record["embedding"], engine.run_chunk(msg)[0]["embedding"], atol=1e-5)


def test_batches_never_mix_sort_windows_and_stop_before_heavy_padding() -> None:
    rng = random.Random(2)
    lengths = [rng.randint(5, 400) for _ in range(300)]
    batches = plan_batches(lengths, batch_size=32, max_tokens=8192, window=100)
    assert sorted(i for b in batches for i in b) == list(range(300))
    for batch in batches:
        assert len({i // 100 for i in batch}) == 1
        width = max(lengths[i] for i in batch)
        padded = width * len(batch)
        assert padded <= 8192 and len(batch) <= 32
        # A batch is either small, or at most 3% padding.
        assert padded <= MIN_BATCH_TOKENS or 1 - sum(lengths[i] for i in batch) / padded <= MAX_PADDING


def test_each_text_is_tokenized_once_per_chunk(tiny_bert: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = engine.get_pipeline("sentiment", str(tiny_bert), "fp32", {"batch_size": 4})
    seen: list[str] = []
    real = type(pipe.tokenizer).__call__

    def counting(self: Any, text: Any, *args: Any, **kwargs: Any) -> Any:
        seen.extend([text] if isinstance(text, str) else text)
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(type(pipe.tokenizer), "__call__", counting)
    texts = mixed_texts(40, seed=3)
    records = pipe([{"id": i, "text": t} for i, t in enumerate(texts)])
    assert len(records) == 40
    assert sorted(seen) == sorted(texts)
