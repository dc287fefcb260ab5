"""Keep a chunk's message held by the worker running it, however long the chunk takes.

kombu's Redis transport records each unacknowledged message in the sorted set
`unacked_index`, scored by the time it was delivered, and hands back to the queue every
message whose score is older than the visibility timeout, whether or not a worker is still
on it. kombu has no setting to extend a message's hold, so while a chunk runs, a thread in
the worker process moves its score to now, a few times per timeout. A worker that dies stops
doing so, and its chunk is redelivered once the timeout has passed, as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from kombu.transport.redis import Channel

from nlpbatch.heartbeat import beating

log = logging.getLogger("nlpbatch.worker")

#: Score updates per visibility timeout: one missed beat (a slow Redis) still leaves margin.
BEATS_PER_TIMEOUT = 4


@contextmanager
def hold_message(client: redis.Redis, delivery_tag: str | None, visibility_timeout: float) -> Iterator[None]:
    """While the block runs, keep the message `delivery_tag` from being handed to another worker."""
    if not delivery_tag:
        yield
        return

    def beat() -> bool:
        try:
            # XX: only a message still held; an acknowledged one must not come back.
            client.zadd(Channel.unacked_index_key, {delivery_tag: time.time()}, xx=True)
        except redis.RedisError as exc:  # the chunk goes on; the next beat tries again
            log.warning("cannot extend the hold on chunk message %s: %s", delivery_tag, exc)
        return True

    with beating(beat, max(0.2, visibility_timeout / BEATS_PER_TIMEOUT), "nlpbatch-hold"):
        yield
