"""`embed --passages`: each passage is embedded exactly as its own text would be, in order."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from nlpbatch.settings import Settings
from tests.engines import engine
from tests.families import FAMILY_PARAMS
from tests.helpers import run_texts

WORDS = "the café in Seoul serves crème brûlée 서울에 갔어요 😀 and   runs of   spaces. Next sentence!"
TEXTS = [
    " ".join([WORDS] * 12),
    "short text",
    "\n\n".join(f"Paragraph {i}: " + WORDS for i in range(6)),
]


@pytest.fixture(autouse=True)
def _engine(settings: Settings) -> None:
    engine.configure(settings, threads=1, backend="onnx")


def check_passages(model: Path, n: int = 24, overlap: int = 6) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model))
    records = run_texts("embed", model, TEXTS, passages=n, overlap=overlap, passage_text=True)
    assert [r["id"] for r in records] == [0, 1, 2]
    assert len(records[1]["passages"]) == 1
    assert len(records[0]["passages"]) > 2
    for record, text in zip(records, TEXTS, strict=True):
        entries = record["passages"]
        assert [e["passage"] for e in entries] == list(range(len(entries)))
        assert entries[0]["start"] == 0 and entries[-1]["end"] == len(text)
        for prev, nxt in pairwise(entries):
            assert prev["start"] < nxt["start"]  # in order, overlapping or apart by blanks only
            assert text[prev["end"] : nxt["start"]].strip() == ""
        for e in entries:
            assert e["text"] == text[e["start"] : e["end"]]
            assert len(tok(e["text"])["input_ids"]) <= n
            end = e["end"]
            assert end == len(text) or not (text[end - 1].isalnum() and text[end].isalnum())
        alone = run_texts("embed", model, [e["text"] for e in entries])
        for e, a in zip(entries, alone, strict=True):
            cos = float(np.dot(e["embedding"], a["embedding"]))
            assert cos >= 0.9999, (e["passage"], cos)


def test_passages_equal_their_own_text_embedded(tiny_bert: Path) -> None:
    check_passages(tiny_bert)


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_passages_on_every_family(family_models: Callable[..., Path], family: str) -> None:
    check_passages(family_models(family, "fill-mask"))


@pytest.mark.parametrize(
    "params",
    [dict(passages=8, overlap=8), dict(passages=100_000), dict(passages=-1)],
)
def test_bad_passage_sizes_are_refused(tiny_bert: Path, params: dict) -> None:
    from nlpbatch.errors import InvalidParameter

    with pytest.raises(InvalidParameter):
        run_texts("embed", tiny_bert, ["some text"], **params)


@pytest.mark.slow
def test_a_million_character_document_is_cut_whole(tiny_bert: Path) -> None:
    text = (" ".join([WORDS] * 12_000))[:1_000_000]
    (record,) = run_texts("embed", tiny_bert, [text], passages=128, overlap=16)
    entries = record["passages"]
    assert entries[0]["start"] == 0 and entries[-1]["end"] == len(text)
    assert all(len(e["embedding"]) == len(entries[0]["embedding"]) for e in entries)
    assert all(a["start"] < b["start"] for a, b in pairwise(entries))
