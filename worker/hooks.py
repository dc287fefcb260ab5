"""Chunk hooks: the concerns applied around every chunk, the same way by `run` and the Celery task.

As dramatiq's middleware: an ordered list of hooks, each with a `before_chunk(msg)` and an
`after_chunk(msg, result, exc)` that do nothing unless the hook needs them. `after_chunk`
comes once the chunk is counted (its part written and, on a worker, marked done), so the
totals a hook reads include it; `result` is None for a chunk a resumed run read back from
its part. `run` applies `run_hooks`, a worker `worker_hooks`; both stop a job past its error
budget with the same hook. The retry of a failed chunk is one policy class (`ChunkRetry`):
`run` waits and runs the chunk again in place, a worker has Celery deliver it again later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nlpbatch.chunkresult import ChunkResult
from nlpbatch.errorbudget import ErrorBudget
from nlpbatch.errors import TooManyErrors
from nlpbatch.retry import retry_delay
from nlpbatch.schema import ChunkMessage


class ChunkHook:
    """One concern around a chunk; both methods do nothing unless overridden."""

    def before_chunk(self, msg: ChunkMessage) -> None:
        """Called before the chunk runs."""

    def after_chunk(self, msg: ChunkMessage, result: ChunkResult | None, exc: BaseException | None) -> None:
        """Called once the chunk is counted (`exc` None), or when running it raised `exc`."""


class BudgetSpent(TooManyErrors):
    """The job's error records went past `--max-errors`; `why` says by how much."""

    def __init__(self, index: int, why: str) -> None:
        super().__init__(f"stopped after chunk {index}: {why}")
        self.why = why


class ErrorBudgetHook(ChunkHook):
    """Stop the job once its error records pass `max_errors` (a count, or a share of the documents).

    `totals()` gives (error records, documents) of the job so far, this chunk included.
    """

    def __init__(self, max_errors: str | None, totals: Callable[[], tuple[int, int]]) -> None:
        self.budget = ErrorBudget.parse(max_errors)
        self.totals = totals

    def after_chunk(self, msg: ChunkMessage, result: ChunkResult | None, exc: BaseException | None) -> None:
        if self.budget is None or exc is not None:
            return
        errors, docs = self.totals()
        if why := self.budget.exceeded(errors, docs):
            raise BudgetSpent(msg.index, why)


class MetricsHook(ChunkHook):
    """Each chunk's documents, error records and seconds, for Prometheus (worker/metrics.py)."""

    def __init__(self) -> None:
        self.started: dict[tuple[str, int], float] = {}

    def before_chunk(self, msg: ChunkMessage) -> None:
        self.started[(msg.job_id, msg.index)] = time.perf_counter()

    def after_chunk(self, msg: ChunkMessage, result: ChunkResult | None, exc: BaseException | None) -> None:
        from worker import metrics

        started = self.started.pop((msg.job_id, msg.index), None)
        if result is not None and started is not None:
            seconds = time.perf_counter() - started
            metrics.observe_chunk(msg.task, result.records, seconds, documents=len(msg.docs))


def before_chunk(hooks: Sequence[ChunkHook], msg: ChunkMessage) -> None:
    """Every hook's `before_chunk`, in order."""
    for hook in hooks:
        hook.before_chunk(msg)


def after_chunk(
    hooks: Sequence[ChunkHook],
    msg: ChunkMessage,
    result: ChunkResult | None,
    exc: BaseException | None = None,
) -> None:
    """Every hook's `after_chunk`, in order; a hook that raises stops the job there."""
    for hook in hooks:
        hook.after_chunk(msg, result, exc)


def run_hooks(max_errors: str | None, totals: Callable[[], tuple[int, int]]) -> list[ChunkHook]:
    """The hooks of `run`: the error budget, over the run's own totals."""
    return [ErrorBudgetHook(max_errors, totals)]


def worker_hooks(max_errors: str | None, totals: Callable[[], tuple[int, int]]) -> list[ChunkHook]:
    """The hooks of a worker's chunk: Prometheus metrics, then the error budget over the job's totals."""
    return [MetricsHook(), ErrorBudgetHook(max_errors, totals)]


@dataclass(frozen=True)
class ChunkRetry:
    """How often, and after what pause, a chunk that failed (not for good) is tried again."""

    retries: int
    #: The longest pause, in seconds (the pauses grow exponentially, with full jitter).
    maximum: float

    def pause(self, retries: int) -> float | None:
        """Seconds before retry number `retries` + 1; None once the retries are used up."""
        if retries >= self.retries:
            return None
        return retry_delay(retries, maximum=self.maximum)


#: A worker retries, through Celery, every chunk that did not fail for good.
WORKER_RETRY = ChunkRetry(retries=8, maximum=300)
#: `run` tries again, in place, a chunk whose runtime failed whatever the input (RuntimeFault):
#: 8 tries in all, the pauses shorter, as someone is waiting on it.
RUN_RETRY = ChunkRetry(retries=7, maximum=30)
