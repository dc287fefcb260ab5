"""Input formats by file name, and the compressed forms of the line-based ones (.gz, .bz2, .xz, .zst)."""

from __future__ import annotations

import io
from pathlib import PurePosixPath
from typing import IO, cast

from nlpbatch.errors import InputError

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "txt",
    ".parquet": "parquet",
}
#: Compressed line-based files (Parquet compresses inside the file), as fsspec names them.
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
STREAMED = ("jsonl", "csv", "tsv", "txt")
VALID = f"{', '.join(FORMATS)}, and {', '.join(COMPRESSIONS)} of all but .parquet"


def _suffixes(name: str) -> tuple[str, str]:
    path = PurePosixPath(name.lower())
    return PurePosixPath(path.stem).suffix, path.suffix


def format_of(name: str) -> str | None:
    """The format of a file named `name` (`corpus.jsonl.gz` is jsonl), or None if it is not an input."""
    inner, outer = _suffixes(name)
    if outer in COMPRESSIONS:
        fmt = FORMATS.get(inner)
        return fmt if fmt in STREAMED else None
    return FORMATS.get(outer)


def compression_of(name: str) -> str | None:
    """fsspec's name for the compression of a file named `name`, or None."""
    return COMPRESSIONS.get(_suffixes(name)[1])


def decompressed(stream: IO[bytes], name: str) -> IO[bytes]:
    """`stream` as its uncompressed bytes, read as they are needed; InputError if it cannot be."""
    compression = compression_of(name)
    if compression is None:
        return stream
    # fsspec's registry of codecs (what `compression="infer"` uses): gzip, bz2 and xz come
    # with Python, zstd only when the zstandard package is installed.
    from fsspec.compression import compr

    if compression not in compr:
        stream.close()
        raise InputError(
            f"reading {name} needs the zstandard package: pip install zstandard (or nlpbatch[zstd])"
        )
    opened = compr[compression](stream, mode="rb")
    if compression == "zstd":  # zstandard's reader reads blocks but not lines
        return io.BufferedReader(opened)
    return cast(IO[bytes], opened)
