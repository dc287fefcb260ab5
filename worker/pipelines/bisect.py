"""Tell a failure that follows one document from one that follows the runtime.

A batch that fails is split in halves until the failing inputs are found, and those become
error records. That is right for a poison document, and wrong for an out-of-memory, a lost
session or a device error, which fail whatever the input: recording those would turn a
passing fault into permanent errors. Two signs tell them apart: every input of a batch
failing the same way, and an input that failed succeeding when tried again on its own once
the rest of the chunk has run. Either raises RuntimeFault (a TransientError), so the whole
chunk is retried with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from nlpbatch.errors import RuntimeFault

log = logging.getLogger("nlpbatch.pipeline")

Run = Callable[[list[int]], None]


def forward_all(run: Run, batches: Iterable[list[int]], failed: dict[int, BaseException]) -> None:
    """`run` each batch, bisecting failures; the inputs that fail for good end in `failed`.

    RuntimeFault when the failure is not the inputs' own (see the module's docstring).
    """
    for batch in batches:
        bisect(run, batch, failed)
    for index in sorted(failed):
        try:
            run([index])
        except Exception:
            continue
        first = failed[index]
        raise RuntimeFault(f"the model failed on an input that later succeeded alone: {first}") from first


def bisect(run: Run, batch: list[int], failed: dict[int, BaseException]) -> None:
    """`run(batch)`; if it raises, split it in halves until the failing inputs are in `failed`."""
    try:
        run(batch)
        return
    except Exception as exc:
        if len(batch) == 1:
            log.warning("model failed on one input: %s", exc)
            failed[batch[0]] = exc
            return
        half = len(batch) // 2
        bisect(run, batch[:half], failed)
        bisect(run, batch[half:], failed)
        ways = {(type(failed[k]), str(failed[k])) for k in batch if k in failed}
        if len(ways) == 1 and all(k in failed for k in batch):
            raise RuntimeFault(f"every input of a batch of {len(batch)} failed the same way: {exc}") from exc
