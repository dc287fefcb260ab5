"""The issue's targets, measured in one run; the whole-process table; int8 anchors against fp32."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from benchmarks.process import WallResult
    from benchmarks.results import Result

#: `run` int8 vs variant 1, model time, by CPU vendor (VNNI on AMD's Zen 4/5 gains more).
INT8_VS_PIPELINE = {"GenuineIntel": 3.0, "AuthenticAMD": 6.5}
#: Earlier targets still worth watching: (label, row, baseline row, at least).
EARLIER = [
    ("`run` fp32 vs variant 1", "4 ", "1 ", 3.0),
    ("`run` fp32 vs variant 3a", "4 ", "3a ", 2.0),
    ("`run` fp32 vs variant 3b", "4 ", "3b ", 1.2),
    ("`run` int8 vs variant 3b", "5 ", "3b ", 2.4),
]
#: nlpbatch's `run` rows of each precision; the targets take the fastest of them.
RUN_FP32 = ("4 ", "4o ", "4p ")
RUN_INT8 = ("5 ", "5o ", "5p ")
#: Each int8 anchor against the fp32 runs of the same weights it is compared with.
AGREEMENT = [("A2 ", "A1 "), ("A2 ", "A4 "), ("A3 ", "A4 ")]


Row = TypeVar("Row", "Result", "WallResult")


def find(rows: list[Row], prefix: str) -> Row | None:
    """The row whose name starts with `prefix` (its number, then a space)."""
    return next((r for r in rows if r.name.startswith(prefix)), None)


def cpu() -> tuple[str, str]:
    """The CPU's model name and vendor id, from /proc/cpuinfo ("" where unknown)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields.get("model name", ""), fields.get("vendor_id", "")


#: Why a target can stay unmet on a machine, by a part of its label: shown where it is not met.
WHY_NOT = {
    "vs variant 1, model time": "fp32 already runs near the fp32 MatMul peak (the GFLOP/s column) and "
    "int8 adds 2.1-2.6x to it in every engine measured on a 2-core AMD EPYC",
    "`run` int8 (W": "the int8 gate computes its 256 documents in fp32 as well as int8 before the job "
    "starts: about half of this row's wall time (gate.seconds in its report)",
    "`run` fp32 (W": "the model time is at the fp32 MatMul peak already, and the pipeline script at "
    "batch 1 pads nothing",
    "`run` fp32 vs variant": "the fp32 model time is at the fp32 MatMul peak already",
}


def _why(label: str) -> str:
    return next((why for part, why in WHY_NOT.items() if part in label), "")


def _row(label: str, got: float, goal: float, at_most: bool = False, unit: str = "x", digits: int = 2) -> str:
    met = got <= goal if at_most else got >= goal
    sign = "<=" if at_most else ">="
    return (
        f"| {label} | {sign} {goal}{unit} | {got:.{digits}f}{unit} | {'yes' if met else 'no'} | "
        + ("" if met else _why(label))
        + " |"
    )


def _fastest(results: list[Result], prefixes: tuple[str, ...]) -> Result | None:
    rows = [r for r in (find(results, p) for p in prefixes) if r]
    return max(rows, key=lambda r: r.docs_per_second) if rows else None


def target_rows(results: list[Result], walls: list[WallResult], fp32_peak_share: float | None) -> list[str]:
    """The targets table: the issue's targets first, then the earlier ones."""
    rows = ["| comparison | target | measured | met | why not |", "|---|---|---|---|---|"]
    # nlpbatch's fastest way to run each precision on this machine: its default, the OpenVINO
    # backend, or one process per core.
    run_fp32, run_int8 = _fastest(results, RUN_FP32), _fastest(results, RUN_INT8)
    for run, prefixes, what in (
        (run_int8, ("A2 ", "A3 "), "int8"),
        (run_fp32, ("A1 ", "A4 ", "3b "), "fp32"),
    ):
        best = _fastest(results, prefixes)
        if run and best:
            label = f"`run` {what} ({run.name}) vs the fastest CPU {what} engine ({best.name})"
            rows.append(_row(label, run.docs_per_second / best.docs_per_second, 1.0))
    vendor = cpu()[1]
    base = find(results, "1 ")
    if run_int8 and base and vendor in INT8_VS_PIPELINE:
        label = f"`run` int8 ({run_int8.name}) vs variant 1, model time ({vendor} target)"
        rows.append(_row(label, run_int8.docs_per_second / base.docs_per_second, INT8_VS_PIPELINE[vendor]))
    script = find(walls, "W1 ")
    for prefixes, what, goal in ((("W3 ", "W4 ", "W5 "), "int8", 6.0), (("W2 ",), "fp32", 4.5)):
        found = [w for w in (find(walls, p) for p in prefixes) if w]
        run_wall = min(found, key=lambda w: w.wall) if found else None
        if script and run_wall:
            label = (
                f"whole process, {run_wall.docs} docs: `run` {what} ({run_wall.name}) vs the pipeline script"
            )
            rows.append(_row(label, script.wall / run_wall.wall, goal))
    fp32_wall = find(walls, "W2 ")
    for prefix in ("W6 ", "W7 "):
        auto = find(walls, prefix)
        if auto and fp32_wall:
            label = f"whole process: `run --precision auto` ({auto.name}) vs `run` fp32"
            rows.append(_row(label, fp32_wall.wall / auto.wall, 1.0))
        if auto and script:
            label = f"whole process: `run --precision auto` ({auto.name}) vs the pipeline script"
            rows.append(_row(label, script.wall / auto.wall, 3.0))
    submit, run_fp32 = find(results, "6b "), find(results, "4 ")
    if submit and run_fp32:
        label = f"`submit` ({submit.name.split(', ', 1)[-1]}) vs `run` fp32 with the same threads"
        rows.append(_row(label, submit.docs_per_second / run_fp32.docs_per_second, 0.95))
    cold = find(walls, "C2 ")
    if cold:
        rows.append(_row("`run` of 10 docs, MiniLM, export cached: wall", cold.wall, 1.5, True, " s"))
        rows.append(
            _row("`run` of 10 docs, MiniLM, export cached: peak RSS", cold.peak_rss_mb, 200, True, " MiB", 0)
        )
    for label, a, b, goal in EARLIER:
        ra, rb = find(results, a), find(results, b)
        if ra and rb:
            rows.append(_row(f"{label} (earlier target)", ra.docs_per_second / rb.docs_per_second, goal))
    if fp32_peak_share is not None:
        label = "achieved fp32 model FLOP/s vs the onnxruntime MatMul peak (earlier target)"
        rows.append(_row(label, 100 * fp32_peak_share, 85, unit="%", digits=0))
    return rows


def wall_rows(walls: list[WallResult]) -> list[str]:
    """Whole-process rows, each against the pipeline script of its group (W1 or C1)."""
    rows = [
        "| command | docs | runs | wall s | docs/s over the wall | vs the pipeline script | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in walls:
        script = find(walls, w.name[0] + "1 ")
        ratio = f"{script.wall / w.wall:.2f}x" if script else ""
        rows.append(
            f"| {w.name} | {w.docs} | {w.runs} | {w.wall:.2f} | {w.docs_per_second:.2f} | {ratio} | "
            f"{w.peak_rss_mb:.0f} |"
        )
    return rows


def agreement_notes(results: list[Result]) -> list[str]:
    """Label agreement of each int8 anchor with fp32 on the same documents, and of the logit margins."""
    notes = []
    for a, b in AGREEMENT:
        ra, rb = find(results, a), find(results, b)
        if not (ra and rb and ra.logits and rb.logits):
            continue
        same = sum(_label(x) == _label(y) for x, y in zip(ra.logits, rb.logits, strict=True))
        margins = ([x[1] - x[0] for x in ra.logits], [y[1] - y[0] for y in rb.logits])
        try:
            corr = f"{statistics.correlation(*margins):.4f}"
        except statistics.StatisticsError:
            corr = "n/a (constant)"
        notes.append(
            f"{ra.name} vs {rb.name}: label agreement {same / len(ra.logits):.4f} over {len(ra.logits)} "
            f"documents; correlation of the logit margins {corr}."
        )
    if notes:  # why both figures
        notes.append(
            "Random weights put most documents on one label, so label agreement is an easy bar; "
            "the correlation of the logit margins (logit 1 - logit 0) is the stricter check."
        )
    return notes


def _label(logits: list[float]) -> int:
    return max(range(len(logits)), key=logits.__getitem__)
