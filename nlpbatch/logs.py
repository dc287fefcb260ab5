"""Logging for the CLI and workers: plain text or JSON lines, with passwords in URLs masked."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"

# scheme://user:password@ -> scheme://user:***@, as `settings.redact_url` does for one URL.
_CREDENTIALS = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^:/@\s]*):(?P<password>[^@\s/]+)@")
# Attributes every LogRecord has; anything else on a record was passed through `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***`."""
    return _CREDENTIALS.sub(r"\g<head>:***@", text)


class RedactingFormatter(logging.Formatter):
    """The text format, with credentials masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, process, and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for `text` or `json`."""
    return JsonFormatter() if log_format == "json" else RedactingFormatter(TEXT_FORMAT)


def setup_logging(level: int, log_format: str = "text") -> None:
    """Send the root logger to stderr in `log_format`, replacing any earlier handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Python warnings otherwise print as free text, between the JSON lines.
    logging.captureWarnings(log_format == "json")
