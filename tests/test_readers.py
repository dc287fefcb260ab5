"""Reading corpora: every format streams documents in order, one per input line."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nlpbatch.errors import InputError
from producer.chunking import chunked
from producer.readers import FieldMap, check_fields, expand_inputs, iter_documents

FIELDS = FieldMap()


def read(paths: list[str], fields: FieldMap = FIELDS) -> list[dict]:
    return list(iter_documents(expand_inputs(paths), fields))


def test_jsonl_documents_keep_their_ids_and_text(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_text('{"id": 7, "text": "hello"}\n{"id": "x", "text": "world"}\n')
    assert read([str(f)]) == [{"id": 7, "text": "hello"}, {"id": "x", "text": "world"}]


def test_a_document_without_an_id_is_named_by_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.jsonl").write_text('{"text": "one"}\n\n{"text": "three"}\n')
    docs = read(["a.jsonl"])
    assert [d["id"] for d in docs] == ["a.jsonl:1", "a.jsonl:3"]


def test_a_malformed_json_line_becomes_an_error_document_and_reading_goes_on(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_bytes(b'{"text": "ok"}\n{"text": broken\n\xff\xfe{"text": "x"}\n[1, 2]\n{"text": "last"}\n')
    docs = read([str(f)])
    assert len(docs) == 5
    assert docs[0]["text"] == "ok" and docs[4]["text"] == "last"
    assert "invalid JSON" in docs[1]["error"]["message"] and docs[1]["id"].endswith("a.jsonl:2")
    assert "invalid UTF-8" in docs[2]["error"]["message"]
    assert "not a JSON object" in docs[3]["error"]["message"]


def test_csv_tsv_txt_and_parquet_are_read_with_the_chosen_fields(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text('doc,body\n1,"hello, world"\n2,bye\n')
    (tmp_path / "b.tsv").write_text("doc\tbody\n3\tone\n")
    (tmp_path / "c.txt").write_text("line one\n\nline three\n")
    pq.write_table(pa.table({"doc": ["4", "5"], "body": ["p1", "p2"]}), tmp_path / "d.parquet")
    fields = FieldMap(text_field="body", id_field="doc")
    docs = read([str(tmp_path)], fields)
    texts = [d["text"] for d in docs]
    assert texts == ["hello, world", "bye", "one", "line one", "", "line three", "p1", "p2"]
    assert [d["id"] for d in docs][:3] == ["1", "2", "3"]
    assert docs[3]["id"].endswith("c.txt:1") and docs[5]["id"].endswith("c.txt:3")


def test_a_glob_selects_matching_files_in_sorted_order(tmp_path: Path) -> None:
    for name in ("b.jsonl", "a.jsonl", "c.csv"):
        (tmp_path / name).write_text(f'{{"text": "{name}"}}\n' if name.endswith("jsonl") else "text\nc\n")
    docs = read([str(tmp_path / "*.jsonl")])
    assert [d["text"] for d in docs] == ["a.jsonl", "b.jsonl"]


def test_stdin_is_read_as_jsonl_or_text(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b'{"id": 1, "text": "hi"}\n'))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert read(["-"]) == [{"id": 1, "text": "hi"}]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"plain line\n")))
    assert read(["-"]) == [{"id": "<stdin>:1", "text": "plain line"}]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: str(p / "missing.jsonl"), "does not exist"),
        (lambda p: (p / "empty").mkdir() or str(p / "empty"), "no readable files"),
        (lambda p: (p / "x.docx").write_text("x") and str(p / "x.docx"), "unknown input format"),
        (lambda p: str(p / "*.nothing"), "no readable files match"),
    ],
)
def test_unusable_inputs_are_refused_before_reading(tmp_path: Path, setup, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=message):
        expand_inputs([setup(tmp_path)])


def test_a_missing_text_column_is_reported_with_the_columns_that_exist(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps({"id": 1, "body": "x", "title": "y"}) + "\n")
    with pytest.raises(InputError, match=r"field 'text' not found .*fields there: body, id, title"):
        check_fields(expand_inputs([str(f)]), FIELDS, ["text"])
    check_fields(expand_inputs([str(f)]), FieldMap(text_field="body"), ["text"])


def test_chunking_is_deterministic_and_keeps_every_document() -> None:
    docs = [{"id": i} for i in range(10)]
    chunks = list(chunked(docs, 4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert [d for c in chunks for d in c] == docs
    assert chunks == list(chunked(docs, 4))
