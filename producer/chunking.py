"""Cut a document stream into fixed-size chunks, deterministically."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from nlpbatch.schema import Doc


def chunked(docs: Iterable[Doc], size: int) -> Iterator[list[Doc]]:
    """Consecutive lists of `size` documents (the last may be shorter).

    The same input always gives the same chunks, which is what lets a job be resumed by
    chunk index.
    """
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    it = iter(docs)
    while chunk := list(islice(it, size)):
        yield chunk
