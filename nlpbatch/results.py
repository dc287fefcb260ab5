"""Results kept in Redis under a TTL instead of a file: output `redis://` (or `redis://?ttl=S`).

Meant for small jobs submitted from scripts: each chunk's records are stored as JSON lines in
one hash per job (`nlpbatch:job:<id>:results`, field = chunk index), which expires `ttl`
seconds after the last chunk landed. `nlpbatch results JOB_ID -o FILE` (or `Job.results()`)
reads them back in input order. Redis holds them in memory, so jobs above `MAX_DOCS`
documents are refused: they should write a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nlpbatch.errors import OutputError
from nlpbatch.schema import Record

SCHEME = "redis://"
DEFAULT_TTL = 24 * 3600
# About 400 MB of Redis memory for 384-dimension embeddings as JSON; far less for labels.
MAX_DOCS = 100_000


def is_redis_output(output: str | Path) -> bool:
    """True when a job's results go to Redis rather than to a file."""
    return isinstance(output, str) and output.lower().startswith(SCHEME)


def parse_redis_output(output: str) -> str:
    """The canonical form `redis://?ttl=S` of a Redis output; OutputError if malformed."""
    parts = urlsplit(output)
    if parts.netloc or parts.path not in ("", "/"):
        raise OutputError(
            f"output {output!r}: results in Redis go to the broker's Redis; write `redis://` "
            "or `redis://?ttl=SECONDS`"
        )
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"ttl"})
    if unknown:
        raise OutputError(f"output {output!r}: unknown option(s) {', '.join(unknown)}; valid: ttl")
    raw = query.get("ttl", [str(DEFAULT_TTL)])[-1]
    if not raw.isdigit() or int(raw) < 1:
        raise OutputError(f"output {output!r}: ttl must be a whole number of seconds, got {raw!r}")
    return f"{SCHEME}?ttl={int(raw)}"


def ttl_of(output: str) -> int:
    """Seconds the results of a `redis://` output are kept."""
    return int(parse_redis_output(output).split("=", 1)[1])


def key(job_id: str) -> str:
    """The Redis hash holding a job's results, one field per chunk."""
    return f"nlpbatch:job:{job_id}:results"


def save_chunk(client: Any, job_id: str, index: int, lines: list[str], ttl: int) -> None:
    """Store one chunk's records (JSON lines); storing the same chunk twice keeps one copy."""
    pipe = client.pipeline(transaction=True)
    pipe.hset(key(job_id), str(index), "\n".join(lines))
    pipe.expire(key(job_id), ttl)
    pipe.execute()


def iter_results(client: Any, job_id: str, n_chunks: int) -> Iterator[Record]:
    """A finished job's records in input order; OutputError if any chunk is gone."""
    if n_chunks and not client.exists(key(job_id)):
        raise OutputError(f"the results of job {job_id} expired or were already drained")
    for index in range(n_chunks):
        text = client.hget(key(job_id), str(index))
        if text is None:
            raise OutputError(f"the results of job {job_id} lack chunk {index}: expired or drained")
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        for line in text.split("\n"):
            if line:
                yield json.loads(line)


def delete(client: Any, job_id: str) -> None:
    """Drop a job's results from Redis."""
    client.delete(key(job_id))
