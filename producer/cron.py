"""Cron expressions of schedule entries: five fields or an alias (`@daily`), and their next runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nlpbatch.errors import InvalidParameter

# The aliases of Vixie cron and crontab(5); `@reboot` has no meaning for a beat schedule.
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def crontab_of(expression: str, now: datetime | None = None) -> Any:
    """A Celery crontab from a five-field cron expression or an alias; InvalidParameter if neither.

    `now` (aware) fixes the crontab's clock and its time zone, as beat's app sets it, for
    computing the next runs from a given time.
    """
    from celery import Celery
    from celery.schedules import crontab

    fields = ALIASES.get(expression.strip().lower(), expression).split()
    if len(fields) != 5:
        raise InvalidParameter(
            f"cron {expression!r} must have 5 fields: minute hour day-of-month month day-of-week, "
            f"or be one of {', '.join(ALIASES)}"
        )
    minute, hour, day_of_month, month, day_of_week = fields
    clock: dict[str, Any] = {}
    if now is not None:
        app = Celery(set_as_current=False)
        app.conf.update(timezone=str(now.tzinfo), enable_utc=True)
        clock = {"nowfun": lambda: now, "app": app}
    try:
        return crontab(minute, hour, day_of_week, day_of_month, month, **clock)
    except (ValueError, KeyError) as exc:
        raise InvalidParameter(f"cron {expression!r}: {exc}") from None


def next_runs(expression: str, after: datetime, count: int = 3) -> list[datetime]:
    """The next `count` times the expression fires after `after` (an aware datetime), in its zone."""
    runs: list[datetime] = []
    when = after
    for _ in range(count):
        # Celery's own arithmetic (remaining_estimate) rather than a second cron parser: beat
        # fires on exactly what it computes. Its clock is fixed at the last run found.
        when = when + crontab_of(expression, now=when).remaining_estimate(when)
        runs.append(when)
    return runs
