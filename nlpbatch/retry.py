"""How nlpbatch waits and tries again: one policy for the producer, the worker and the broker.

Three cases, each on the library that fits it where one does:

- A Redis call while Redis has gone away (a restart, a failover, a network blip): redis-py
  reconnects on the next command, so `patiently` waits and calls again, with redis-py's
  full-jitter backoff, for up to a patience given in seconds.
- A chunk that failed and is retried through Celery: `retry_delay`, Celery's own
  exponential backoff with full jitter.
- A message published while Redis restarts: kombu's publish retry, with `PUBLISH_RETRY_POLICY`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from nlpbatch.errors import BrokerError

log = logging.getLogger("nlpbatch.retry")
T = TypeVar("T")

#: The shortest pause between two calls to an unreachable Redis, in seconds.
MIN_PAUSE = 0.2
#: The first pause's upper bound; each next one doubles, up to a `max_pause`.
FIRST_PAUSE = 0.5

#: kombu's retry policy for sending a message (a chunk, or a chunk's retry): while Redis
#: restarts, sending waits for it, up to about a minute (40 tries, pauses 0.2 s up to 2 s).
PUBLISH_RETRY_POLICY: dict[str, Any] = {
    "max_retries": 40,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 2,
}


def patiently(call: Callable[[], T], *, what: str, patience: float, max_pause: float = 30.0) -> T:
    """`call()`, tried again with exponential backoff and full jitter while Redis is unreachable.

    Pauses are drawn up to 0.5, 1, 2 ... `max_pause` seconds (at least 0.2). Once the next
    pause would pass `patience` seconds in all, BrokerError names `what` and the last error.
    """
    # redis-py's Retry.call_with_retry counts tries and sleeps silently; here the limit is a
    # time (a worker must give up on a chunk in time for Celery to retry it) and each wait is
    # logged, so the loop is ours and only the pauses come from redis-py's backoff.
    # Imported here: `nlpbatch run` imports this module but never talks to Redis, and the
    # redis package costs its process about 20 MiB.
    import redis
    from redis.backoff import FullJitterBackoff

    backoff = FullJitterBackoff(cap=max_pause, base=FIRST_PAUSE)
    deadline = time.monotonic() + patience
    attempt = 0
    while True:
        try:
            return call()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            pause = max(MIN_PAUSE, backoff.compute(attempt))
            if time.monotonic() + pause > deadline:
                raise BrokerError(f"{what}: Redis unreachable for {patience:.0f} s: {exc}") from exc
            log.warning("%s: Redis unreachable (%s); trying again in %.1f s", what, exc, pause)
            time.sleep(pause)
            attempt += 1


def retry_delay(retries: int, *, factor: float = 2, maximum: float = 300) -> int:
    """Seconds before a chunk's retry number `retries` + 1: exponential, capped, with full jitter.

    The task calls `Task.retry` itself rather than Celery's `autoretry_for` with
    `retry_backoff`, because it must requeue the chunk when the retry cannot be published
    (see worker.tasks), so it takes Celery's backoff function directly.
    """
    from celery.utils.time import get_exponential_backoff_interval

    return int(get_exponential_backoff_interval(factor, retries, maximum, full_jitter=True))
