"""Redis as an output: results kept under a TTL instead of a file, `redis://` (or `redis://?ttl=S`).

Meant for small jobs submitted from scripts: each chunk's records are stored as JSON lines in
one hash per job (`nlpbatch:job:<id>:results`, field = chunk index), which expires `ttl`
seconds after the last chunk landed. A chunk is one hash field set in one transaction, so
"atomic" here means a reader sees the whole chunk or none of it, and there is nothing to
merge. `nlpbatch results JOB_ID -o FILE` (or `Job.results()`) reads them back in input
order. Redis holds them in memory, so jobs above `MAX_DOCS` documents are refused: they
should write a file. `run` cannot write here: it has no job in Redis.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nlpbatch import defaults
from nlpbatch.errors import OutputError
from nlpbatch.outputs.base import Output
from nlpbatch.outputs.records import dumps
from nlpbatch.schema import Record
from nlpbatch.tasks import TaskSpec

SCHEME = "redis://"
DEFAULT_TTL = defaults.RESULTS_TTL
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
    return f"{defaults.JOB_KEY_PREFIX}{job_id}:results"


def _records(text: str | bytes) -> list[Record]:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return [json.loads(line) for line in text.split("\n") if line.strip()]


class RedisOutput(Output):
    """A job's results in the broker's Redis, one hash field per chunk, until drained or expired."""

    runnable = False
    drainable = True

    @classmethod
    def claims(cls, output: str | Path) -> bool:
        return is_redis_output(output)

    _connection: Any = None

    def _client(self) -> tuple[Any, str]:
        if self._redis is None or self.job_id is None:
            raise ValueError(f"{self!r} needs the job's id and the broker's Redis")
        if self._connection is None:
            self._connection = self._redis()
        return self._connection, self.job_id

    def check(self) -> str:
        return parse_redis_output(str(self.target))

    def check_safe(self) -> None:
        parse_redis_output(str(self.target))

    def check_size(self, documents: Callable[[], Iterable[Any]], *, from_stdin: bool) -> None:
        """OutputError unless the job is small enough to keep its results in Redis.

        Counting reads at most MAX_DOCS + 1 documents, which costs far less than running them.
        """
        if from_stdin:
            raise OutputError(
                "results in Redis need file inputs, whose size is checked first; write to a file"
            )
        if sum(1 for _ in islice(documents(), MAX_DOCS + 1)) > MAX_DOCS:
            raise OutputError(
                f"more than {MAX_DOCS} documents: too many to keep in Redis; write a file (-o out.parquet)"
            )

    def write_part(self, index: int, records: list[Record]) -> None:
        client, job_id = self._client()
        # One transaction: the chunk and the hash's new expiry land together.
        pipe = client.pipeline(transaction=True)
        pipe.hset(key(job_id), str(index), "\n".join(dumps(r) for r in records))
        pipe.expire(key(job_id), ttl_of(str(self.target)))
        pipe.execute()

    def done_parts(self) -> set[int]:
        client, job_id = self._client()
        return {int(field) for field in client.hkeys(key(job_id))}

    def read_part(self, index: int) -> list[Record]:
        client, job_id = self._client()
        text = client.hget(key(job_id), str(index))
        if text is None:
            raise OutputError(f"the results of job {job_id} lack chunk {index}: expired or drained")
        return _records(text)

    def written_parts(self) -> Iterator[tuple[int, list[Record]]]:
        client, job_id = self._client()
        chunks = {int(field): text for field, text in client.hgetall(key(job_id)).items()}
        for index in sorted(chunks):
            yield index, _records(chunks[index])

    def merge(
        self,
        spec: TaskSpec,
        n_chunks: int,
        *,
        keep_parts: bool = False,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Nothing to do: the chunks are read in order straight from the hash."""

    def read(self, n_chunks: int) -> Iterator[Record]:
        """The job's records in input order; OutputError if any chunk is gone."""
        client, job_id = self._client()  # now, so an unreachable Redis fails the call itself
        return self._read(client, job_id, n_chunks)

    def _read(self, client: Any, job_id: str, n_chunks: int) -> Iterator[Record]:
        if n_chunks and not client.exists(key(job_id)):
            raise OutputError(f"the results of job {job_id} expired or were already drained")
        for index in range(n_chunks):
            yield from self.read_part(index)

    def drain(self) -> None:
        client, job_id = self._client()
        client.delete(key(job_id))
