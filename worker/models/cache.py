"""What `nlpbatch models list` and `models rm` see: the finished exports in the ONNX cache."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from worker.models.store import MARKER, file_lock, is_complete


@dataclass(frozen=True)
class CachedExport:
    """One finished export: the model as named in jobs, its export task, precision, size and folder."""

    model: str
    task: str
    precision: str
    size: int
    folder: Path

    def matches(self, model: str) -> bool:
        """Whether `model` names this export: as jobs name it, by its folder, or the same local path."""
        if model in (self.model, self.folder.name):
            return True
        return Path(model).expanduser().absolute() == Path(self.model).expanduser().absolute()


def cached_exports(cache: Path) -> list[CachedExport]:
    """Every finished export under `cache`, by model then task then precision."""
    found = []
    for folder in sorted(cache.iterdir()) if cache.is_dir() else []:
        if folder.name.startswith(".") or not folder.is_dir() or not is_complete(folder):
            continue  # a temporary folder of an export under way, or a lock file
        try:
            meta = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        found.append(
            CachedExport(
                str(meta.get("ref", "?")),
                str(meta.get("export_task", "?")),
                str(meta.get("precision", "?")),
                size,
                folder,
            )
        )
    return sorted(found, key=lambda e: (e.model, e.task, e.precision))


def remove_exports(cache: Path, exports: list[CachedExport]) -> None:
    """Delete the exports, each under its lock so a worker exporting it at this moment finishes first."""
    for export in exports:
        with file_lock(cache / f"{export.folder.name}.lock"):
            shutil.rmtree(export.folder, ignore_errors=True)
        # The lock file stays: unlinking it could let two exporters lock different files.
