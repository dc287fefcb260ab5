"""Records equal transformers.pipeline on tiny RoBERTa, XLM-R, DeBERTa-v2, ALBERT, ELECTRA, MPNet,
BART, T5, GPT-2 and Llama checkpoints, long, accented, Korean and emoji texts included."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nlpbatch.settings import Settings
from tests.families import LONG
from tests.helpers import run_texts
from worker import engine

Models = Callable[..., Path]


@pytest.fixture(autouse=True)
def _engine(settings: Settings) -> None:
    engine.configure(settings, threads=1, backend="onnx")


def hf(task: str, model: Path):  # type: ignore[no-untyped-def]
    from transformers import pipeline

    return pipeline(task, model=str(model), device="cpu")


def test_a_zero_width_token_in_a_window_overlap_is_listed_once_with_aggregation_none(
    family_models: Models,
) -> None:
    from transformers import AutoTokenizer

    model = family_models("roberta", "token-classification")
    [record] = run_texts("ner", model, [LONG], aggregation_strategy="none", stride=16, ignore_labels=[])
    entities = record["entities"]
    tokens = AutoTokenizer.from_pretrained(str(model))(LONG, add_special_tokens=False)["input_ids"]
    assert len(tokens) > 2 * 128  # three windows at least
    assert sum(e["start"] == e["end"] for e in entities) >= 10  # the double spaces' empty tokens
    # Every token of the document once, in order, whichever window labelled it.
    assert [e["index"] for e in entities] == list(range(1, len(tokens) + 1))
