"""Celery beat for `nlpbatch schedule`: due entries run on the beat host, one thread each.

Beat usually sends a task message for a worker to run. A scheduled nlpbatch run instead reads
the inputs, consults the processed-documents file and queues chunks, all of which belong on
the one beat host (where that file lives), so the scheduler below runs due entries here and
leaves only the chunks to the workers.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from celery.beat import PersistentScheduler

from nlpbatch.broker import make_celery
from nlpbatch.settings import Settings
from producer.cron import crontab_of
from producer.schedule import ScheduleConfig, run_entry

log = logging.getLogger("nlpbatch.schedule")

SCHEDULED_RUN = "nlpbatch.scheduled_run"


class Runner:
    """Starts entry runs in threads; an entry still running when due again is not started twice."""

    def __init__(self, config: ScheduleConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, name: str) -> bool:
        """Run entry `name` now in a thread; False if its previous run is still going."""
        with self._lock:
            previous = self._running.get(name)
            if previous is not None and previous.is_alive():
                log.warning("%s: the previous run is still going; this one is skipped", name)
                return False
            thread = threading.Thread(target=self._run, args=(name,), name=f"nlpbatch-{name}", daemon=True)
            self._running[name] = thread
            thread.start()
            return True

    def _run(self, name: str) -> None:
        now = datetime.now(ZoneInfo(self.config.timezone))
        try:
            run_entry(self.config.entries[name], self.settings, now=now)
        except Exception:
            # Nothing was marked processed, so the next run picks these documents up again.
            log.exception("%s: scheduled run failed", name)


def scheduler_class(runner: Runner) -> type[PersistentScheduler]:
    """A beat scheduler that hands due entries to `runner` instead of sending messages."""

    class LocalScheduler(PersistentScheduler):
        """Beat's persistent scheduler, running due entries on this host."""

        def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any) -> None:
            """Start the entry's run here, in a thread; nothing is sent to the workers."""
            if advance:
                entry = self.reserve(entry)
            runner.start(entry.args[0])

    return LocalScheduler


def beat_schedule(config: ScheduleConfig) -> dict[str, dict[str, Any]]:
    """Celery's `beat_schedule` for the entries."""
    return {
        name: {"task": SCHEDULED_RUN, "schedule": crontab_of(entry.cron), "args": [name]}
        for name, entry in config.entries.items()
    }


def run_beat(config: ScheduleConfig, settings: Settings, *, loglevel: str = "INFO") -> None:
    """Run Celery beat until stopped; its last-run times are kept under NLPBATCH_HOME/schedule."""
    app = make_celery(settings)
    app.conf.update(beat_schedule=beat_schedule(config), timezone=config.timezone, enable_utc=True)
    folder = settings.home / "schedule"
    folder.mkdir(parents=True, exist_ok=True)
    beat = app.Beat(
        scheduler=scheduler_class(Runner(config, settings)),
        schedule=str(folder / "beat-schedule"),
        loglevel=loglevel,
    )
    beat.run()
