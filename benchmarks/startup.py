"""`python -m benchmarks.startup`: the whole-process cost of a small job against a bare import.

`nlpbatch run` of 10 short documents with the packaged all-MiniLM-L6-v2 (`-t embed`), its
export cached by a first, unmeasured run, against `python -c "import onnxruntime, tokenizers"`:
the median wall time and peak resident memory (the child's ru_maxrss) of `--rounds` runs each,
interleaved. `--code DIR` (repeatable) adds a row running the nlpbatch source tree in DIR (an
older commit, say) with the same interpreter and export cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def cpu() -> str:
    """The CPU model and the ISA flags that decide nlpbatch's speed."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    lines = info.splitlines()
    name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "unknown")
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8", "avx512_bf16")
    return (
        f"{name}, {os.cpu_count()} cores; {' '.join(f for f in wanted if f in flags) or 'none of avx2..amx'}"
    )


def measure(cmd: list[str], env: dict[str, str], cwd: str | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run of `cmd`."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--code", action="append", default=[], help="another nlpbatch source tree to time")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="nlpbatch-startup-"))
    corpus = work / "docs.jsonl"
    corpus.write_text(
        "".join(json.dumps({"id": i, "text": f"document number {i} is short"}) + "\n" for i in range(10))
    )
    env = {
        **os.environ,
        "NLPBATCH_HOME": os.environ.get("NLPBATCH_HOME", str(work / "home")),
        "HF_HUB_OFFLINE": "1",
    }
    run = [sys.executable, "-m", "producer", "run", str(corpus), "-t", "embed", "-m", MODEL]
    bare = [sys.executable, "-c", "import onnxruntime, tokenizers"]
    rows: dict[str, tuple[list[str], str | None]] = {"bare import": (bare, None)}
    rows["nlpbatch run, 10 docs"] = (run, None)
    for code in args.code:
        rows[f"run from {code}"] = (run, code)
    for cmd, cwd in rows.values():
        if cmd is run:  # exports (or finds the export cached); not timed
            measure([*run, "-o", str(work / "warm.jsonl")], env, cwd)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
    for i in range(args.rounds):  # interleaved, so a busy moment hurts every row alike
        for name, (cmd, cwd) in rows.items():
            extra = ["-o", str(work / f"out{i}.jsonl")] if cmd is run else []
            results[name].append(measure([*cmd, *extra], env, cwd))
    print(f"CPU: {cpu()}")
    print(f"model {MODEL}, export cached, median of {args.rounds}")
    medians = {
        n: (statistics.median(w for w, _ in r), statistics.median(m for _, m in r))
        for n, r in results.items()
    }
    for name, (wall, rss) in medians.items():
        print(f"{name:40s} {wall:6.2f} s  {rss:6.0f} MB peak RSS")
    ratio = medians["nlpbatch run, 10 docs"][0] / medians["bare import"][0]
    print(f"run / bare import: {ratio:.2f}x wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
