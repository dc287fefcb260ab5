"""Whole-process rows: a command timed as a user feels it, start-up and model loading included.

The wall time runs from starting the process to its exit; the peak RSS is the one the
kernel hands back for that one child on `os.wait4` (ru_maxrss, what GNU `time` reports:
the process's own peak, or its largest child's if larger). Linux carries a parent's
high-water RSS across fork and exec, so the command is forked from a small launcher, not
from the bench (whose own RSS, with transformers loaded, would be every row's floor).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.runners import gate_options

if TYPE_CHECKING:
    from benchmarks.bench import Bench


@dataclass
class WallResult:
    """One command's wall seconds and peak RSS, over `docs` documents."""

    name: str
    docs: int
    wall: float
    peak_rss_mb: float
    runs: int = 1

    @property
    def docs_per_second(self) -> float:
        return self.docs / self.wall


#: `python -I -S -c LAUNCHER RESULT COMMAND...`: fork and exec COMMAND, wait for it, and write
#: its wall seconds, ru_maxrss (KiB on Linux) and exit code to RESULT as JSON. The launcher
#: itself is a bare interpreter of a few MiB (6 MiB here), the floor of what it can report.
LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(sys.argv[1], "w") as fh:
    json.dump({"wall": wall, "maxrss_kib": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}, fh)
"""


def timed_process(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process, its output to `log`."""
    result = log.with_suffix(".time.json")
    with log.open("wb") as out:
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(result), *command]
        subprocess.run(launcher, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    measured = json.loads(result.read_text(encoding="utf-8"))
    if measured["code"] != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(command)} exited {measured['code']}:\n{tail}")
    return float(measured["wall"]), measured["maxrss_kib"] / 1024


def nlpbatch_command() -> list[str]:
    """The `nlpbatch` a user types: the console script beside this Python, else `-m producer`."""
    script = Path(sys.executable).with_name("nlpbatch")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "producer"]


def whole_run(
    bench: Bench,
    name: str,
    corpus: Path,
    docs: int,
    task: str,
    model: str,
    precision: str,
    extra: tuple[str, ...] = (),
    runs: int = 1,
) -> WallResult:
    """`nlpbatch run` over `corpus`, its export already cached; the median of `runs` runs."""
    out = _stem(bench, name).with_suffix(".jsonl")
    command = [*nlpbatch_command(), "run", str(corpus), "-t", task, "-m", model, "-o", str(out)]
    command += ["--threads", str(bench.threads), "--precision", precision]
    return _median(bench, name, docs, [*command, *gate_options(task, precision), *extra], runs)


def whole_script(
    bench: Bench, name: str, corpus: Path, docs: int, task: str, model: str, runs: int = 1
) -> WallResult:
    """A user's script around `transformers.pipeline` (PyTorch, default batch) over `corpus`."""
    out = _stem(bench, name).with_suffix(".jsonl")
    command = [sys.executable, "-m", "benchmarks.variants", "script", "--task", task, "--model", model]
    command += ["--corpus", str(corpus), "--threads", str(bench.threads), "--out", str(out)]
    return _median(bench, name, docs, command, runs)


def _median(bench: Bench, name: str, docs: int, command: list[str], runs: int) -> WallResult:
    measured = [
        timed_process(command, bench.env, _stem(bench, name).with_suffix(".log")) for _ in range(runs)
    ]
    return WallResult(
        name,
        docs,
        statistics.median(w for w, _ in measured),
        statistics.median(r for _, r in measured),
        runs,
    )


def _stem(bench: Bench, name: str) -> Path:
    """The row's files in the work folder, without a suffix."""
    return bench.work / f"whole-{name.split()[0]}"
