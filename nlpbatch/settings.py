"""One settings object, built once at the entry point and passed down.

Command-line flags override `NLPBATCH_*` environment variables, which override defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_BROKER = "redis://localhost:6379/0"


def default_home() -> Path:
    return Path("~/.cache/nlpbatch").expanduser()


@dataclass(frozen=True)
class Settings:
    """Where the broker and the model cache are, and how workers use the machine."""

    broker_url: str = DEFAULT_BROKER
    home: Path = Path("~/.cache/nlpbatch")
    # Seconds Redis waits before handing an unacknowledged chunk to another worker. It must
    # exceed the longest chunk's processing time, or a slow chunk runs twice (harmless, as
    # chunk results are idempotent, but wasted work).
    visibility_timeout: int = 3600
    queue: str = "nlpbatch"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `NLPBATCH_*` variables, then from non-None keyword overrides."""
        env = os.environ if env is None else env
        base = cls(
            broker_url=env.get("NLPBATCH_BROKER_URL", DEFAULT_BROKER),
            home=Path(env.get("NLPBATCH_HOME", str(default_home()))).expanduser(),
            visibility_timeout=int(env.get("NLPBATCH_VISIBILITY_TIMEOUT", "3600")),
            queue=env.get("NLPBATCH_QUEUE", "nlpbatch"),
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
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
