"""A Redis at its `maxmemory`: the producer waits for room instead of failing a job half-queued.

With `maxmemory-policy noeviction` a full Redis refuses writes (`OOM command not allowed`). The
chunk messages are what fills it, and the workers empty it as they finish chunks, so the
producer sends a message only while it leaves a tenth of `maxmemory` (and at least four
messages' worth) free for the workers' own writes (done marks, counters, acknowledgements) and
replies, and waits, saying so, while it would not: a worker refused a write when it takes a
chunk stops altogether.
Under a policy that evicts keys, Redis may drop a job's state: the producer warns at submit,
and `wait` stops with an error when it happens (see producer.failover.JobLostError).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from nlpbatch.jobstore import JobStore

log = logging.getLogger("nlpbatch.producer")

#: The share of `maxmemory` kept free for the workers' own writes and replies...
HEADROOM = 0.1
#: ... and at least this many messages' worth: a worker's reply buffer holds the message it takes.
HEADROOM_MESSAGES = 4
#: Seconds between two looks at a full Redis.
PAUSE = 1.0


def memory(store: JobStore) -> tuple[int, int, str]:
    """Redis's used memory, its `maxmemory` (0: no limit) and its eviction policy."""
    info = store.r.info("memory")
    return int(info["used_memory"]), int(info.get("maxmemory", 0)), str(info.get("maxmemory_policy", ""))


def warn_if_evicting(store: JobStore) -> None:
    """Log a warning when Redis may evict keys when full: a job's state could vanish with them."""
    _, limit, policy = memory(store)
    if limit and policy != "noeviction":
        log.warning(
            "Redis has maxmemory-policy %s: when full it drops keys, and a job whose state it drops "
            "stops with an error; set maxmemory-policy noeviction for nlpbatch",
            policy,
        )


def send_with_room(
    store: JobStore, size: int, send: Callable[[], Any], job_id: str, *, patient: Callable[[Any], Any]
) -> None:
    """`send()` a message of about `size` bytes once Redis has room for it, waiting while it is full.

    `patient(call)` makes the memory look wait out an unreachable Redis, as every producer call does.
    """
    import redis
    from kombu.exceptions import OperationalError

    waited_since: float | None = None
    while True:
        used, limit, _ = patient(lambda: memory(store))
        if not limit or used + size <= limit - max(HEADROOM * limit, HEADROOM_MESSAGES * size):
            try:
                send()
                break
            except (redis.exceptions.OutOfMemoryError, OperationalError) as exc:
                # kombu hands a refused write on as OperationalError; only a full Redis is waited out
                if "maxmemory" not in str(exc):
                    raise
                # another producer filled it first: wait like the rest
        if waited_since is None:
            waited_since = time.monotonic()
            log.warning(
                "job %s: Redis is full (%.1f of its maxmemory %.1f MiB); waiting for the workers to "
                "take chunks before queuing more",
                job_id,
                used / 2**20,
                limit / 2**20,
            )
        time.sleep(PAUSE)
    if waited_since is not None:
        waited = time.monotonic() - waited_since
        log.info("job %s: Redis has room again after %.0f s; queuing goes on", job_id, waited)
