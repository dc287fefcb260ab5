"""One settings object, built once at the entry point and passed down.

Command-line flags override `NLPBATCH_*` environment variables, which override the defaults
of `nlpbatch.defaults`. This is the only module that reads `NLPBATCH_*` variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nlpbatch import defaults, redisurl
from nlpbatch.roots import parse_roots


def default_home() -> Path:
    """The cache and job folder when neither `--home` nor NLPBATCH_HOME names one."""
    return Path(defaults.HOME).expanduser()


@dataclass(frozen=True)
class Settings:
    """Where the broker and the model cache are, and how workers use the machine."""

    broker_url: str = defaults.BROKER_URL
    home: Path = Path(defaults.HOME)
    # Seconds Redis waits before handing an unacknowledged chunk to another worker. It must
    # exceed the longest chunk's processing time, or a slow chunk runs twice (harmless, as
    # chunk results are idempotent, but wasted work).
    visibility_timeout: int = defaults.VISIBILITY_TIMEOUT
    queue: str = defaults.QUEUE
    #: Model threads per worker process; None: the worker's share of the cores.
    threads: int | None = None
    #: Seconds a worker waits for an unreachable Redis before the chunk is retried later.
    redis_patience: float = defaults.WORKER_REDIS_PATIENCE
    #: The worker's Celery pool: `prefork`, or `solo` for a one-process worker.
    pool: str = defaults.POOL
    #: The port a worker serves Prometheus metrics on; None: no metrics.
    metrics_port: int | None = None
    #: Seconds after SIGTERM a worker finishes its chunks before returning them to the queue.
    shutdown_timeout: float = defaults.SHUTDOWN_TIMEOUT
    log_format: str = defaults.LOG_FORMAT
    #: Path or URL prefixes a worker may write outputs under; empty: anywhere.
    output_roots: tuple[str, ...] = ()
    #: Path prefixes a worker may load local model folders from; empty: anywhere.
    model_roots: tuple[str, ...] = ()
    #: `run`'s processes when `--processes` is not given: a number from 1, or auto.
    run_processes: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `NLPBATCH_*` variables, then from non-None keyword overrides.

        ValueError names the variable whose value does not parse.
        """
        env = os.environ if env is None else env

        def read(name: str, parse: Any, default: Any) -> Any:
            raw = env.get(f"NLPBATCH_{name}")
            if not raw:
                return default
            try:
                return parse(raw)
            except ValueError:
                raise ValueError(f"NLPBATCH_{name}={raw!r} is not a valid {parse.__name__}") from None

        base = cls(
            broker_url=env.get("NLPBATCH_BROKER_URL", defaults.BROKER_URL),
            home=Path(env.get("NLPBATCH_HOME", str(default_home()))).expanduser(),
            visibility_timeout=read("VISIBILITY_TIMEOUT", int, defaults.VISIBILITY_TIMEOUT),
            queue=env.get("NLPBATCH_QUEUE", defaults.QUEUE),
            threads=read("THREADS", int, None) or None,
            redis_patience=read("REDIS_PATIENCE", float, defaults.WORKER_REDIS_PATIENCE),
            pool=env.get("NLPBATCH_POOL") or defaults.POOL,
            metrics_port=read("METRICS_PORT", int, None),
            shutdown_timeout=read("SHUTDOWN_TIMEOUT", float, defaults.SHUTDOWN_TIMEOUT),
            log_format=env.get("NLPBATCH_LOG_FORMAT") or defaults.LOG_FORMAT,
            output_roots=parse_roots(env.get("NLPBATCH_OUTPUT_ROOTS", "")),
            model_roots=parse_roots(env.get("NLPBATCH_MODEL_ROOTS", "")),
            run_processes=env.get("NLPBATCH_RUN_PROCESSES") or "auto",
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        if "home" in given:
            given["home"] = Path(given["home"]).expanduser()
        return replace(base, **given)

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    @property
    def onnx_dir(self) -> Path:
        return self.home / "onnx"


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***`, for logs and status output."""
    return redisurl.redact(url)
