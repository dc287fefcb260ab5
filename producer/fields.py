"""Which input columns become a document: the task's fields (renamed with --field) and kept ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nlpbatch.schema import KEPT, Doc

#: `--keep-fields all`: every input column but the id.
ALL = "all"
#: `--id-field none`: documents are named `<file>:<line>` even where the input has ids.
NO_ID = "none"


@dataclass(frozen=True)
class FieldMap:
    """Which input columns feed the task: `text` from `text_field`, the rest by their names.

    `renames` maps a task field to the column it is read from (`--field question=q`); `keep`
    names the input columns copied into each record (`("all",)` for every one). With
    `no_header`, a CSV/TSV's first row is data and its columns are named "1", "2", ...
    (counted from 1, as cut and awk count them).
    """

    text_field: str = "text"
    id_field: str = "id"
    other_fields: tuple[str, ...] = ()
    renames: dict[str, str] = field(default_factory=dict)
    keep: tuple[str, ...] = ()
    no_header: bool = False

    def wanted(self) -> dict[str, str]:
        """Column name -> document field name."""
        out = {self.renames.get("text", self.text_field): "text"}
        out.update({self.renames.get(name, name): name for name in self.other_fields})
        return out

    def columns(self, available: list[str]) -> list[str] | None:
        """The columns to read from a table with `available` columns; None for all of them."""
        if ALL in self.keep:
            return None
        wanted = [self.id_field, *self.wanted(), *self.keep]
        return [c for c in dict.fromkeys(wanted) if c in available] or None


def doc_from_row(row: Any, where: str | int, fields: FieldMap) -> Doc:
    """The document of one input row: its id (or `where`), the task's fields and the kept ones."""
    if not isinstance(row, dict):
        return {"id": where, "error": {"type": "MalformedInput", "message": f"{where}: not a JSON object"}}
    raw_id = None if fields.id_field == NO_ID else row.get(fields.id_field)
    doc: Doc = {"id": raw_id if raw_id not in (None, "") else where}
    for column, name in fields.wanted().items():
        if column in row:
            doc[name] = row[column]
    if fields.keep:
        names = [c for c in row if c != fields.id_field] if ALL in fields.keep else fields.keep
        doc[KEPT] = {name: row.get(name) for name in names}
    return doc


def error_doc(where: str, kind: str, message: str) -> Doc:
    """A document that could not be read: its place and why."""
    return {"id": where, "error": {"type": kind, "message": f"{where}: {message}"}}


def column_numbers(row: list[str]) -> dict[str, str]:
    """A headerless row's cells by column number, counted from 1."""
    return {str(number): cell for number, cell in enumerate(row, start=1)}
