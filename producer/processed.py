"""Which documents scheduled runs have already processed: a SQLite file on the beat host.

A key is the hash of a document's content with the task, model and parameters that shape its
record. Keys are written only after the run's output is safely in place, so a run that
crashes is redone in full rather than skipped.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nlpbatch.schema import Doc

# Parameters that change how documents are batched, never what their records hold.
_BATCHING_PARAMS = ("batch_size", "max_batch_tokens")


def doc_key(doc: Doc, *, task: str, model: str, params: dict[str, Any]) -> str:
    """The content hash x task x model x parameters of one document (its id left out)."""
    shaping = {k: v for k, v in params.items() if k not in _BATCHING_PARAMS}
    content = {k: v for k, v in doc.items() if k != "id"}
    blob = json.dumps([task, model, shaping, content], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ProcessedStore:
    """Processed-document keys in a SQLite file; survives restarts of the beat process."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a mark that is reported is on disk
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS processed ("
            " key TEXT PRIMARY KEY, entry TEXT NOT NULL, job_id TEXT NOT NULL, at REAL NOT NULL"
            ") WITHOUT ROWID"
        )
        self.db.commit()

    def known(self, keys: Sequence[str]) -> set[str]:
        """The keys among `keys` that are already processed."""
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            batch = list(keys[start : start + 500])
            marks = ",".join("?" * len(batch))
            rows = self.db.execute(f"SELECT key FROM processed WHERE key IN ({marks})", batch)
            found.update(row[0] for row in rows)
        return found

    def mark(self, keys: Iterable[str], *, entry: str, job_id: str) -> None:
        """Record `keys` as processed, all in one transaction."""
        now = time.time()
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO processed (key, entry, job_id, at) VALUES (?, ?, ?, ?)",
                ((key, entry, job_id, now) for key in keys),
            )

    def count(self, entry: str | None = None) -> int:
        """How many keys are recorded, for one entry or for all."""
        if entry is None:
            row = self.db.execute("SELECT COUNT(*) FROM processed").fetchone()
        else:
            row = self.db.execute("SELECT COUNT(*) FROM processed WHERE entry = ?", (entry,)).fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the SQLite connection."""
        self.db.close()
