"""The job report: how fast a job ran, in what precision, and with what resources.

Written at the end of every job to `<output>.report.json`, beside the output, and printed;
distributed jobs also keep it in their Redis state, where `nlpbatch status` finds it.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

from nlpbatch import storage
from nlpbatch.outputs import open_output
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
        gate_text = f", int8 gate {'passed' if gate['passed'] else 'failed'} ({shown})"
    repeats = describe_repeats(report.get("repeated_ids"))
    return (
        f"{report['docs']} documents ({report['errors']} errors) in {report['seconds']:.1f}s: "
        f"{report['docs_per_second']:.1f} docs/s, {report['tokens_per_second']:.0f} tokens/s on "
        f"{report['backend']}/{report['precision']}{gate_text}, "
        f"{report['processes']} x {report['threads']} threads, padding {report['padding_waste']:.1%}, "
        f"peak memory {report['peak_rss_mb']:.0f} MiB" + (f"\n{repeats}" if repeats else "")
    )


def distributed_report(
    status: Any, counters: dict[str, int], workers: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The report of a submitted job, from its Redis state and what each worker process recorded.

    Its time runs from when a worker began the job's first chunk (or, if unknown, from the
    submission) to the last chunk done, as `nlpbatch status` counts its rate.
    """
    manifest = status.manifest
    began = getattr(status, "started", None) or status.created
    seconds = max(status.updated - began, 1e-9)
    infos = list(workers.values())
    return {
        "output": manifest.get("output"),
        "docs": status.docs_done,
        "errors": status.errors,
        "chunks": status.chunks_done,
        "seconds": round(seconds, 3),
        **rates(status.docs_done, counters["tokens"], counters["padded_tokens"], seconds),
        "tokens": counters["tokens"],
        "padded_tokens": counters["padded_tokens"],
        "backend": infos[0]["backend"] if infos else "",
        "precision": infos[0]["precision"] if infos else manifest.get("precision", ""),
        "gate": manifest.get("gate"),
        "repeated_ids": manifest.get("repeated_ids"),
        "threads": max((int(i["threads"]) for i in infos), default=0),
        "processes": len(infos),
        "peak_rss_mb": max((float(i["peak_rss_mb"]) for i in infos), default=0.0),
        "workers": workers,
    }
