"""Riding out a Redis that has gone away: a restart, a failover, a network blip.

redis-py reconnects on the next command, so a caller that waits and tries again carries on
where it was once Redis is back.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from nlpbatch.errors import BrokerError

log = logging.getLogger("nlpbatch.reconnect")
T = TypeVar("T")


def patiently(call: Callable[[], T], *, what: str, patience: float, max_pause: float = 30.0) -> T:
    """`call()`, tried again with exponential backoff and full jitter while Redis is unreachable.

    Pauses are drawn up to 0.5, 1, 2 ... `max_pause` seconds (at least 0.2). Once the next
    pause would pass `patience` seconds in all, BrokerError names `what` and the last error.
    """
    deadline = time.monotonic() + patience
    attempt = 0
    while True:
        try:
            return call()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            pause = max(0.2, random.uniform(0, min(max_pause, 0.5 * 2**attempt)))
            if time.monotonic() + pause > deadline:
                raise BrokerError(f"{what}: Redis unreachable for {patience:.0f} s: {exc}") from exc
            log.warning("%s: Redis unreachable (%s); trying again in %.1f s", what, exc, pause)
            time.sleep(pause)
            attempt += 1
