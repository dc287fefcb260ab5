"""`--max-errors N` or `P%`: how many error records a job may have before it is stopped as failed."""

from __future__ import annotations

from dataclasses import dataclass

from nlpbatch.errors import InvalidParameter


@dataclass(frozen=True)
class ErrorBudget:
    """At most `count` error records, or at most `percent` of the documents done so far."""

    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str | None) -> ErrorBudget | None:
        """`"10"` or `"2.5%"`; None for no limit; InvalidParameter for anything else."""
        if text is None or str(text).strip() == "":
            return None
        value = str(text).strip()
        try:
            if value.endswith("%"):
                percent = float(value[:-1])
                if not 0 <= percent <= 100:
                    raise ValueError
                return cls(percent=percent)
            count = int(value)
            if count < 0:
                raise ValueError
            return cls(count=count)
        except ValueError:
            raise InvalidParameter(
                f"--max-errors must be a number of documents (10) or a percentage (2.5%), got {value!r}"
            ) from None

    def exceeded(self, errors: int, docs: int) -> str | None:
        """Why the job must stop, once `errors` of `docs` documents done is past the budget; else None.

        A percentage is judged after each chunk on the documents done so far.
        """
        if self.count is not None and errors > self.count:
            return f"{errors} documents failed, more than --max-errors {self.count}"
        if self.percent is not None and docs and errors * 100 > self.percent * docs:
            return (
                f"{errors} of {docs} documents failed ({100 * errors / docs:.1f}%), "
                f"more than --max-errors {self.percent:g}%"
            )
        return None
