"""`embed` with `passages`: one record per passage, and the documents behind such records.

The pipeline gives a document's passages as one list; a chunk's records are then laid out
one per passage, in input order (document, then passage):

    {"id": "doc-7", "passage": 0, "start": 0, "end": 1180, "embedding": [...]}
    {"id": "doc-7", "passage": 1, "start": 1032, "end": 2260, "embedding": [...]}

A document that fits gives one record, `passage` 0; a document that failed gives its one
error record. So the records that begin a document are the error records and those of
passage 0: counting them counts documents, whatever the number of passages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nlpbatch.schema import Record

#: The list a pipeline record holds its passages in, before they become records.
PASSAGES = "passages"
#: The fields of a passage record beside `id` and `embedding` (`text` with `passage_text`).
PASSAGE_FIELDS = {"passage": "int", "start": "int", "end": "int"}
#: The `embed` parameters that `run`/`submit` also take as options of their own.
PASSAGE_OPTIONS = ("passages", "overlap", "passage_text")


def passage_job(params: Mapping[str, Any] | None) -> bool:
    """True when a job with these parameters writes one record per passage."""
    return bool(params and params.get(PASSAGES))


def passage_rows(records: list[Record]) -> list[Record]:
    """The records with each document's `passages` laid out as one record per passage.

    Each passage record carries the document's id and kept fields, then the passage's own
    fields, which win over a kept field of the same name. Error records stay as they are.
    """
    out: list[Record] = []
    for record in records:
        entries = record.get(PASSAGES)
        if not isinstance(entries, list) or "error" in record:
            out.append(record)
            continue
        base = {k: v for k, v in record.items() if k != PASSAGES}
        out += [{**base, **entry} for entry in entries]
    return out


def document_records(records: list[Record], params: Mapping[str, Any] | None) -> list[Record]:
    """The records that begin a document: all of them, except in a passage job (see above)."""
    if not passage_job(params):
        return records
    return [r for r in records if "error" in r or r.get("passage") == 0]


def with_passage_options(
    task: str,
    params: Mapping[str, Any] | None,
    given: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`params` with the passage options given (`passages`, `overlap`, `passage_text`; None: not
    given) set in them: the `--passages N` flag and `passages=N` in Python are `passages=N` in `params`.

    `names`: how the caller's user spells each option in messages (`--passages`); by default
    `passages=`. InvalidParameter (exit 2) for an option on a task other than `embed`, or an
    option and the same parameter in `params` with different values.
    """
    from nlpbatch.errors import InvalidParameter, UnknownTask
    from nlpbatch.tasks import get_task

    spelled = dict(names or {name: f"{name}=" for name in PASSAGE_OPTIONS})
    out = dict(params or {})
    chosen = {name: given.get(name) for name in PASSAGE_OPTIONS if given.get(name) is not None}
    if not chosen:
        return out
    try:
        spec = get_task(task)
    except UnknownTask:
        return out  # the job's own check names the unknown task
    if spec.name != "embed":
        flags = " ".join(spelled[name].rstrip("=") for name in chosen)
        raise InvalidParameter(f"{flags} works with task 'embed' only, not {spec.name!r}")
    for name, value in chosen.items():
        if name in out and spec.params[name].coerce(name, out[name]) != value:
            raise InvalidParameter(
                f"{spelled[name].rstrip('=')} {value} and parameter {name}={out[name]} disagree; give one"
            )
        out[name] = value
    return out
