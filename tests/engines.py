"""The Engine a test module runs its chunks on: `engine.configure(...)` builds it, the
`fresh_engine` fixture (conftest.py) drops it between modules.

Tests call `engine.run_chunk(msg)` for a chunk's records, `engine.get_pipeline(...)` and
`engine.get_model(...)` for what the Engine loaded, as a worker process would.
"""

from __future__ import annotations

from typing import Any

from nlpbatch.gating import GateOptions
from nlpbatch.schema import ChunkMessage, Record
from nlpbatch.settings import Settings
from worker.engine import Engine, available_cores, thread_budget

__all__ = ["available_cores", "engine", "run_gate", "thread_budget"]


class TestEngine:
    """One Engine per test module, built from the test's settings."""

    def __init__(self) -> None:
        self.current: Engine | None = None

    def configure(self, settings: Settings, *, threads: int | None = None, backend: str = "auto") -> Engine:
        self.current = Engine.from_settings(settings, threads=threads, backend=backend)
        return self.current

    def configured(self) -> bool:
        return self.current is not None

    def reset(self) -> None:
        self.current = None

    @property
    def built(self) -> Engine:
        if self.current is None:  # as a worker process with no options given would
            self.current = Engine.from_settings(settings := Settings.from_env(), threads=settings.threads)
        return self.current

    def run_chunk(self, msg: ChunkMessage) -> list[Record]:
        return self.built.run_chunk(msg).records

    def get_pipeline(self, task: str, model: str, precision: str, params: dict[str, Any]) -> Any:
        return self.built.pipeline(task, model, precision, params)

    def get_model(self, task: str, model: str, precision: str, params: dict[str, Any] | None = None) -> Any:
        return self.built.model(task, model, precision, params)

    thread_budget = staticmethod(thread_budget)


engine = TestEngine()


def run_gate(
    task: str,
    model: str,
    params: dict[str, Any],
    docs: Any,
    *,
    requested: str,
    threshold: float | None = None,
    first_docs: int = GateOptions.docs,
    max_docs: int = GateOptions.max_docs,
) -> Any:
    """The int8 gate's result on `docs`, read as one chunk by this module's Engine."""
    msg = ChunkMessage("t", 0, task, model, list(docs), dict(params), precision=requested)
    options = GateOptions(threshold, first_docs, max_docs)
    return engine.built.decide(iter([msg]), options, requested=requested).gate
