"""The job report: how fast a job ran, in what precision, and with what resources.

Written at the end of every job to `<output>.report.json`, beside the output, and printed;
distributed jobs also keep it in their Redis state, where `nlpbatch status` finds it.
"""

from __future__ import annotations

import json
import resource
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpbatch import storage
from nlpbatch.outputs import open_output
from nlpbatch.passages import passage_job
from nlpbatch.repeats import describe_repeats


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MiB."""
    # Linux keeps ru_maxrss across exec, so a process started by a big one would report
    # its parent's size; VmHWM is this program's own high-water mark.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def report_path(output: str | Path) -> str | Path | None:
    """`<output>.report.json`, a path or a URL; None for results kept in Redis."""
    return open_output(output).report_location


def write_report(output: str | Path, report: dict[str, Any]) -> str | Path | None:
    """Save the report beside the output, atomically (results in Redis have no file)."""
    path = report_path(output)
    if path is not None:
        storage.write_bytes(path, (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    return path


def rates(docs: int, tokens: int, padded_tokens: int, seconds: float) -> dict[str, float]:
    """docs/s, tokens/s and the padding share, rounded for reading."""
    return {
        "docs_per_second": round(docs / seconds, 2) if seconds > 0 else 0.0,
        "tokens_per_second": round(tokens / seconds, 1) if seconds > 0 else 0.0,
        "padding_waste": round(1 - tokens / padded_tokens, 4) if padded_tokens else 0.0,
    }


def describe(report: dict[str, Any]) -> str:
    """The report in one line, as the CLI prints it."""
    gate = report.get("gate")
    gate_text = ""
    if gate:
        value = gate.get("value")
        shown = f"{gate['metric']} {value:.6f}" if value is not None else gate.get("reason", "")
        if gate.get("low") is not None:
            shown += f", 95% interval {gate['low']:.4f}-{gate['high']:.4f}"
        if value is not None:
            shown += f", {gate['docs']} documents"
        for name, figure in (gate.get("also") or {}).items():
            shown += f", {name} {figure:.4f}"
        if gate.get("speedup"):
            shown += f", int8 {gate['speedup']:.2f}x fp32's speed"
        if gate.get("reused_from"):
            shown += f", verdict measured {gate['reused_from']}"
        gate_text = f", int8 gate {'passed' if gate['passed'] else 'failed'} ({shown})"
        if gate.get("why"):
            gate_text += f": {gate['why']}"
    repeats = describe_repeats(report.get("repeated_ids"))
    passages = "" if report.get("passages") is None else f", {report['passages']} passages"
    return (
        f"{report['docs']} documents{passages} ({report['errors']} errors) in {report['seconds']:.1f}s"
        + (f" + {report.get('gate_seconds') or 0:.1f}s int8 gate" if gate else "")
        + ": "
        f"{report['docs_per_second']:.1f} docs/s, {report['tokens_per_second']:.0f} tokens/s on "
        f"{report['backend']}/{report['precision']}{gate_text}, "
        f"{report['processes']} x {report['threads']} threads, padding {report['padding_waste']:.1%}, "
        f"peak memory {report['peak_rss_mb']:.0f} MiB" + (f"\n{repeats}" if repeats else "")
    )


@dataclass(frozen=True)
class JobReport:
    """What a finished job did, and how fast: the one report of `run` and of `submit`.

    `seconds` runs from the model being loaded to the output merged (`run`), or from a worker
    beginning the job's first chunk to the last one done (`submit`); the int8 gate ran before,
    in `gate_seconds`, and the model load took `model_load_seconds`. The rates count every
    document computed for the job, the gate's included, over `gate_seconds + seconds`; not the
    chunks a resumed run found already written.
    """

    output: str
    docs: int
    errors: int
    chunks: int
    seconds: float
    tokens: int
    padded_tokens: int
    backend: str
    precision: str
    threads: int
    processes: int
    peak_rss_mb: float
    load_seconds: float = 0.0
    gate: dict[str, Any] | None = None
    repeated_ids: dict[str, Any] | None = None
    #: Chunks (and their documents) found written by an earlier, interrupted run of this job.
    resumed_chunks: int = 0
    resumed_docs: int = 0
    #: Documents whose records the int8 gate computed, written as they were.
    gate_docs: int = 0
    #: Each process that ran chunks: its backend, precision, threads and peak memory.
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Passage records written by an `embed` job with `passages` (one per passage, beside
    #: each failed document's error record); None for any other job, one record per document.
    passages: int | None = None

    @property
    def gate_seconds(self) -> float:
        return float(self.gate.get("seconds") or 0.0) if self.gate else 0.0

    @property
    def model_seconds(self) -> float:
        """Seconds the models computed the job's records: the chunks' and the gate's (both precisions)."""
        gate_model = float(self.gate.get("model_seconds") or 0.0) if self.gate else 0.0
        return self.seconds + gate_model

    @property
    def computed_docs(self) -> int:
        """Documents whose records were computed for this job, in this run or by its gate."""
        return self.docs - self.resumed_docs

    @property
    def docs_per_second(self) -> float:
        spent = self.seconds + self.gate_seconds
        return self.computed_docs / spent if spent > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The report as written to `<output>.report.json` (keys listed in the README)."""
        return {
            "output": self.output,
            "docs": self.docs,
            "errors": self.errors,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            **rates(self.computed_docs, self.tokens, self.padded_tokens, self.seconds + self.gate_seconds),
            "tokens": self.tokens,
            "padded_tokens": self.padded_tokens,
            "model_load_seconds": round(self.load_seconds, 2),
            "gate_seconds": round(self.gate_seconds, 3),
            "model_seconds": round(self.model_seconds, 3),
            "backend": self.backend,
            "precision": self.precision,
            "gate": self.gate,
            "repeated_ids": self.repeated_ids,
            "threads": self.threads,
            "processes": self.processes,
            "peak_rss_mb": self.peak_rss_mb,
            "resumed_chunks": self.resumed_chunks,
            "gate_docs_reused": self.gate_docs,
            "workers": self.workers,
            **({} if self.passages is None else {"passages": self.passages}),
        }


def distributed_report(
    status: Any, counters: dict[str, int], workers: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The report of a submitted job, from its Redis state and what each worker process recorded.

    Its time runs from when a worker began the job's first chunk (or, if unknown, from the
    submission) to the last chunk done, as `nlpbatch status` counts its rate.
    """
    manifest = status.manifest
    began = getattr(status, "started", None) or status.created
    infos = list(workers.values())
    return JobReport(
        output=manifest.get("output"),
        docs=status.docs_done,
        errors=status.errors,
        chunks=status.chunks_done,
        seconds=max(status.updated - began, 1e-9),
        tokens=counters["tokens"],
        padded_tokens=counters["padded_tokens"],
        backend=infos[0]["backend"] if infos else "",
        precision=infos[0]["precision"] if infos else manifest.get("precision", ""),
        threads=max((int(i["threads"]) for i in infos), default=0),
        processes=len(infos),
        peak_rss_mb=max((float(i["peak_rss_mb"]) for i in infos), default=0.0),
        load_seconds=max((float(i.get("load_seconds") or 0.0) for i in infos), default=0.0),
        gate=manifest.get("gate"),
        repeated_ids=manifest.get("repeated_ids"),
        workers=workers,
        passages=counters.get("passages", 0) if passage_job(manifest.get("params")) else None,
    ).to_dict()
