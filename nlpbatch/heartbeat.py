"""Keeps a lock alive while its holder works: a thread renews its TTL every third of it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("nlpbatch.heartbeat")


@contextmanager
def renewed(renew: Callable[[], bool], ttl: float, what: str) -> Iterator[None]:
    """Call `renew` every `ttl`/3 seconds while the block runs; it returns False once the lock is lost.

    A holder that dies stops renewing, so the lock still expires `ttl` seconds later and
    another process may take over; a holder that lives keeps it however long it works.
    """
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(ttl / 3):
            try:
                if not renew():
                    log.warning("%s: the lock passed to another holder", what)
                    return
            except Exception as exc:  # Redis down for a moment: the next beat tries again
                log.warning("%s: cannot renew the lock: %s", what, exc)

    thread = threading.Thread(target=beat, name=f"heartbeat {what}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
