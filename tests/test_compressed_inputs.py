"""Compressed inputs: .gz, .bz2, .xz and .zst of JSONL, CSV, TSV and TXT, as files, in folders, in globs."""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner

from nlpbatch.errors import InputError
from nlpbatch.outputs.records import read_records
from producer.cli import main
from producer.readers import FieldMap, expand_inputs, iter_documents

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".zst": lambda data: zstandard.ZstdCompressor().compress(data),
}
PLAIN = {
    ".jsonl": b'{"id": "a", "text": "first one"}\n{"id": "b", "text": "second, with a comma"}\n',
    ".csv": b'id,text\na,first one\nb,"second, with a comma"\n',
    ".tsv": b"id\ttext\na\tfirst one\nb\tsecond, with a comma\n",
    ".txt": b"first one\nsecond, with a comma\n",
}


def texts(paths: list[str]) -> list[str]:
    return [d["text"] for d in iter_documents(expand_inputs(paths), FieldMap())]


@pytest.mark.parametrize("compression", list(COMPRESSORS))
@pytest.mark.parametrize("ext", list(PLAIN))
def test_a_compressed_file_gives_the_documents_of_the_plain_one(
    ext: str, compression: str, tmp_path: Path
) -> None:
    plain = tmp_path / f"corpus{ext}"
    plain.write_bytes(PLAIN[ext])
    packed = tmp_path / f"packed{ext}{compression}"
    packed.write_bytes(COMPRESSORS[compression](PLAIN[ext]))
    assert texts([str(packed)]) == texts([str(plain)]) == ["first one", "second, with a comma"]


def test_folders_and_globs_include_compressed_files(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(PLAIN[".jsonl"]))
    (folder / "b.csv.zst").write_bytes(COMPRESSORS[".zst"](PLAIN[".csv"]))
    (folder / "c.parquet.gz").write_bytes(b"not an input")
    expected = ["first one", "second, with a comma"] * 2
    assert texts([str(folder)]) == expected
    assert texts([str(folder / "*.*.*")]) == expected
    assert [s.format for s in expand_inputs([str(folder)])] == ["jsonl", "csv"]


def test_zst_without_zstandard_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec.compression

    monkeypatch.delitem(fsspec.compression.compr, "zstd")
    packed = tmp_path / "c.jsonl.zst"
    packed.write_bytes(COMPRESSORS[".zst"](PLAIN[".jsonl"]))
    with pytest.raises(InputError, match="zstandard"):
        texts([str(packed)])


def test_run_reads_a_gzipped_corpus_as_it_reads_the_plain_one(
    corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    packed = tmp_path / "corpus.jsonl.gz"
    packed.write_bytes(gzip.compress(corpus.read_bytes()))
    outputs = []
    for source in (corpus, packed):
        out = tmp_path / f"{source.name}.out.jsonl"
        args = ["run", str(source), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out)]
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs.append(list(read_records(out)))
    assert outputs[0] == outputs[1] and len(outputs[0]) == 7
