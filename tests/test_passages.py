"""`embed --passages`: one record per passage, each embedded exactly as its own text would be, in order."""

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
    ids = [r["id"] for r in records]
    assert ids == sorted(ids) and set(ids) == {0, 1, 2}  # document, then passage
    assert ids.count(1) == 1 and ids.count(0) > 2
    fields = ["id", "passage", "start", "end", "text", "embedding"]
    assert all(list(r) == fields for r in records)
    for doc, text in enumerate(TEXTS):
        entries = [r for r in records if r["id"] == doc]
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
    entries = run_texts("embed", tiny_bert, [text], passages=128, overlap=16)
    assert entries[0]["start"] == 0 and entries[-1]["end"] == len(text)
    assert all(len(e["embedding"]) == len(entries[0]["embedding"]) for e in entries)
    assert all(a["start"] < b["start"] for a, b in pairwise(entries))


def test_a_passage_record_keeps_the_documents_fields_and_a_failed_document_its_error(tiny_bert: Path) -> None:
    from nlpbatch.schema import KEPT, ChunkMessage

    docs = [
        {"id": "a", "text": TEXTS[0], KEPT: {"title": "A", "start": "kept"}},
        {"id": "b", "error": {"type": "MalformedInput", "message": "bad line"}, KEPT: {"title": "B"}},
        {"id": "c", "text": "short", KEPT: {"title": "C"}},
    ]
    msg = ChunkMessage("t", 0, "embed", str(tiny_bert), docs, params={"passages": 16, "overlap": 4})
    records = engine.run_chunk(msg)
    a = [r for r in records if r["id"] == "a"]
    assert len(a) > 2 and all(r["title"] == "A" for r in a)
    assert [r["start"] for r in a] == sorted(r["start"] for r in a) and a[0][
        "start"
    ] == 0  # the passage's own
    assert records[len(a)] == {"id": "b", "title": "B", "error": docs[1]["error"]}
    assert records[len(a) + 1 :] == [
        {"id": "c", "title": "C", "passage": 0, "start": 0, "end": 5, "embedding": records[-1]["embedding"]}
    ]


def test_a_passage_jobs_written_part_counts_documents_and_names_each_once() -> None:
    """What `resume` and a failover recount read back from a part: documents, not passage records."""
    from producer.failover import _counts
    from producer.recovery import Written

    part = [
        {"id": "a", "passage": 0, "start": 0, "end": 9, "embedding": [1.0]},
        {"id": "a", "passage": 1, "start": 7, "end": 20, "embedding": [1.0]},
        {"id": "b", "passage": 7, "error": {"type": "MalformedInput", "message": "m"}},  # a kept `passage`
        {"id": "c", "passage": 0, "start": 0, "end": 5, "embedding": [1.0]},
    ]
    params = {"passages": 16, "overlap": 4}
    assert Written.of(part, params) == Written(["a", "b", "c"], errors=1, passages=3)
    assert _counts(part, params) == (3, 1, 3)
    assert _counts(part, {"passages": 0}) == (4, 1, 0)  # one record per document
