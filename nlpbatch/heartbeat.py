"""Work kept alive while it runs: a thread beats at a fixed interval (a lock's TTL, a message's hold)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("nlpbatch.heartbeat")


@contextmanager
def beating(beat: Callable[[], bool], interval: float, name: str) -> Iterator[None]:
    """Call `beat` every `interval` seconds in a thread while the block runs, until it returns False.

    A process that dies stops beating, so whatever the beat keeps alive lapses on its own.
    """
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            if not beat():
                return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def renewed(renew: Callable[[], bool], ttl: float, what: str) -> Iterator[None]:
    """Call `renew` every `ttl`/3 seconds while the block runs; it returns False once the lock is lost.

    A holder that dies stops renewing, so the lock still expires `ttl` seconds later and
    another process may take over; a holder that lives keeps it however long it works.
    """

    def beat() -> bool:
        try:
            if not renew():
                log.warning("%s: the lock passed to another holder", what)
                return False
        except Exception as exc:  # Redis down for a moment: the next beat tries again
            log.warning("%s: cannot renew the lock: %s", what, exc)
        return True

    with beating(beat, ttl / 3, f"heartbeat {what}"):
        yield
