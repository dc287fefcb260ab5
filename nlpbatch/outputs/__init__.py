"""Where a job's records go, behind one interface: a local file, an fsspec URL, or Redis.

    output = open_output("out/sentiment.parquet")
    output.check()                # before any work, with an error naming the problem
    output.write_part(3, records) # in a worker, one chunk at a time, in any order
    output.merge(spec, n_chunks)  # once every chunk is written

Each store is one subclass of `Output`; `open_output` picks it from the output string.
"""

from __future__ import annotations

from pathlib import Path

from nlpbatch.outputs.base import Output, RedisFactory
from nlpbatch.outputs.dataset import DatasetOutput
from nlpbatch.outputs.files import LocalOutput, UrlOutput
from nlpbatch.outputs.redis_results import RedisOutput

# The first store that claims an output string holds it; anything no store claims is a
# local path. Redis comes first, since `redis://` is a URL and ends in a slash too; a
# dataset folder (a trailing slash) comes before URLs, since it may be one.
STORES: tuple[type[Output], ...] = (RedisOutput, DatasetOutput, UrlOutput)

__all__ = ["Output", "open_output"]


def open_output(
    output: str | Path, *, job_id: str | None = None, redis: RedisFactory | None = None
) -> Output:
    """The store that holds `output`; `job_id` and `redis` serve the stores that keep results in Redis."""
    store = next((s for s in STORES if s.claims(output)), LocalOutput)
    return store(output, job_id=job_id, redis=redis)
