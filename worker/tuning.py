"""The precision a model runs fastest in on this machine, measured once and kept.

The int8 gate runs a job's first documents in fp32 and in int8 on the same features and
times both. int8 is worth having only where it passes the accuracy gate *and* runs faster:
on a CPU without VNNI (AVX2 only) dynamic int8 can be slower than fp32, on one with VNNI or
AMX it is usually much faster, and no rule written on one machine holds on the next. So
`--precision auto` takes int8 only when the gate measured it at least `SPEED_MARGIN` times as
fast as fp32, and the verdict is kept in the home's `verdicts/` folder under a key of
everything that changes either figure: the model's content, the task and its parameters,
the backend and threads, the gate's pass mark, the CPU (its model name and instruction set
extensions) and the versions of the libraries that run the model. A nightly job pays for the
measurement once per machine kind; `nlpbatch models tune` pays it ahead of time.

NLPBATCH_REUSE_VERDICTS=0 makes every job measure again and keep nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from nlpbatch.storage import write_bytes

log = logging.getLogger("nlpbatch.tuning")

#: int8 must measure at least this much faster than fp32 to be chosen by `auto`: timings on a
#: few hundred documents vary by a few percent, and a tie is not worth int8's accuracy cost.
#: NLPBATCH_INT8_MIN_SPEEDUP sets another (0: int8 whenever it passes the accuracy gate).
SPEED_MARGIN = 1.05
ENV_MIN_SPEEDUP = "NLPBATCH_INT8_MIN_SPEEDUP"

#: The instruction set extensions that change which kernels ONNX Runtime and OpenVINO run.
ISA_FLAGS = frozenset(
    {
        "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd",
        "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8",
        "amx_tile", "asimd", "asimddp", "asimdhp", "sve", "sve2", "i8mm", "bf16",
    }
)  # fmt: skip

#: Libraries whose version changes the speed or the numbers of a run.
LIBRARIES = ("onnxruntime", "openvino", "numpy", "nlpbatch")

ENV_REUSE = "NLPBATCH_REUSE_VERDICTS"


@functools.cache
def cpu() -> dict[str, Any]:
    """This machine's CPU: model name, architecture and the relevant ISA flags (sorted)."""
    name, flags = "", set[str]()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and not name:
            name = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    if not name:
        name = platform.processor() or platform.machine()
    return {"model": name, "machine": platform.machine(), "flags": sorted(flags & ISA_FLAGS)}


def describe_cpu() -> str:
    """One line naming the CPU and its flags, for reports and benchmarks."""
    found = cpu()
    return f"{found['model']} ({found['machine']}; {' '.join(found['flags']) or 'no vector flags found'})"


def _versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "none"
    return out


def reuse_enabled() -> bool:
    return os.environ.get(ENV_REUSE, "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class VerdictKey:
    """What a verdict depends on; `digest` names its file."""

    fields: dict[str, Any]

    @property
    def digest(self) -> str:
        blob = json.dumps(self.fields, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:24]


def verdict_key(
    *,
    content_key: str,
    model: str,
    task: str,
    params: dict[str, Any],
    backend: str,
    threads: int,
    threshold: float | None,
) -> VerdictKey:
    return VerdictKey(
        {
            "model": model,
            "content": content_key,
            "task": task,
            "params": dict(sorted(params.items())),
            "backend": backend,
            "threads": threads,
            "threshold": threshold,
            "cpu": cpu(),
            "libraries": _versions(),
        }
    )


def verdicts_dir(cache: Path) -> Path:
    """Where verdicts live: beside the model cache (`cache` is the home's `onnx/` folder)."""
    return cache.parent / "verdicts"


def load(cache: Path, key: VerdictKey) -> dict[str, Any] | None:
    """The kept verdict for `key`, or None (none kept, unreadable, or reuse switched off)."""
    if not reuse_enabled():
        return None
    path = verdicts_dir(cache) / f"{key.digest}.json"
    try:
        verdict: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if verdict.get("key") != json.loads(json.dumps(key.fields, sort_keys=True, default=str)):
        return None  # a digest collision or a hand-edited file: measure again
    return verdict


def save(cache: Path, key: VerdictKey, gate: dict[str, Any]) -> Path | None:
    """Keep the gate's result under `key`; the file written, or None where reuse is off."""
    if not reuse_enabled():
        return None
    path = verdicts_dir(cache) / f"{key.digest}.json"
    measured_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record = {"key": key.fields, "gate": gate, "measured_at": measured_at}
    write_bytes(path, (json.dumps(record, sort_keys=True, indent=1, default=str) + "\n").encode())
    return path


def kept_verdicts(cache: Path) -> list[dict[str, Any]]:
    """Every kept verdict, newest first (for `nlpbatch models list`)."""
    folder = verdicts_dir(cache)
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda v: str(v.get("measured_at", "")), reverse=True)


def min_speedup() -> float:
    """The speedup `auto` needs from int8: SPEED_MARGIN unless NLPBATCH_INT8_MIN_SPEEDUP says."""
    raw = os.environ.get(ENV_MIN_SPEEDUP, "").strip()
    try:
        return float(raw) if raw else SPEED_MARGIN
    except ValueError:
        log.warning("%s=%r is not a number: using %.2f", ENV_MIN_SPEEDUP, raw, SPEED_MARGIN)
        return SPEED_MARGIN


def speed_choice(requested: str, passed: bool, speedup: float | None) -> tuple[str, str]:
    """The precision to run and why, from the gate's accuracy verdict and int8's measured speedup.

    `auto` takes int8 only if it passed and measured at least `min_speedup()` times fp32's
    speed; `int8` takes it whenever it passed, however fast (the caller warns when slower).
    """
    if not passed:
        return "fp32", ""
    needed = min_speedup()
    if requested == "auto" and speedup is not None and speedup < needed:
        return "fp32", f"int8 ran at {speedup:.2f}x fp32's speed on this CPU (auto needs {needed:.2f}x)"
    return "int8", ""


def _sample_texts() -> list[dict[str, Any]]:
    """English sentences of mixed length and tone, for `models tune` without `--docs`."""
    subjects = ["The battery", "This phone", "The service", "Our hotel room", "The new update", "Delivery",
                "The screen", "Customer support", "The camera", "This book"]  # fmt: skip
    verdicts = ["is excellent and I would buy it again", "was slow, noisy and broke after a week",
                "works as described", "could be better for the price", "made the whole trip worth it",
                "is fine, nothing special", "stopped working and nobody answered my emails"]  # fmt: skip
    extra = ["", " The packaging was damaged but everything inside was intact.",
             " I have used it every day for three months, in the rain, on trains and at work,"
             " and it has not let me down once, which I cannot say of the two before it."]  # fmt: skip
    texts = [
        f"{s} {v}.{extra[(i + j) % len(extra)]}"
        for i, s in enumerate(subjects)
        for j, v in enumerate(verdicts)
    ]
    return [{"id": i, "text": t} for i, t in enumerate(texts)]


def tune_model(
    settings: Any,
    model: str,
    task: str,
    *,
    docs: str | None,
    threads: int | None,
    backend: str,
    threshold: float | None,
    gate_docs: int,
) -> Any:
    """Run the gate on `docs` (or a built-in sample), measuring again, and keep its verdict."""
    from nlpbatch.errors import JobError
    from nlpbatch.gating import GateOptions
    from nlpbatch.schema import ChunkMessage
    from nlpbatch.tasks import get_task
    from producer.job import prepare_job
    from worker.engine import Engine

    spec = get_task(task)
    engine = Engine.from_settings(settings, threads=threads, backend=backend)
    options = GateOptions(threshold, gate_docs, max(gate_docs, 2048))
    if docs is None:
        if tuple(spec.input_fields) != ("text",):
            raise JobError(
                f"{spec.name} reads {', '.join(spec.input_fields)}: name documents with --docs FILE"
            )
        sample = _sample_texts()
        messages = iter([ChunkMessage("tune", 0, spec.name, model, sample, {}, precision="auto")])
    else:
        # No output: the records go nowhere; only the gate's verdict is wanted.
        job = prepare_job(task=spec.name, model=model, inputs=[docs], output=None, precision="auto")
        job = dataclasses.replace(job, inputs=(docs,), cwd=os.getcwd())
        messages = job.messages("tune")
    decision = engine.decide(messages, options, requested="auto", reuse=False, keep_unsettled=True)
    return decision.gate


def describe_verdict(gate: Any) -> str:
    """What `models tune` measured and chose, in one paragraph."""
    if not gate.metric:
        return f"nothing to tune: {gate.reason}"
    lines = [f"CPU: {gate.cpu or describe_cpu()}"]
    if gate.speedup is not None:
        lines.append(
            f"model time on {gate.docs} documents: fp32 {gate.fp32_seconds:.2f}s, "
            f"int8 {gate.int8_seconds:.2f}s (int8 {gate.speedup:.2f}x fp32)"
        )
    verdict = "passes" if gate.passed else "fails"
    value = f"{gate.value:.6f}" if gate.value is not None else "-"
    lines.append(f"int8 accuracy: {gate.metric} {value}, pass mark {gate.threshold}: int8 {verdict}")
    lines.append(f"--precision auto runs {gate.precision}" + (f": {gate.why}" if gate.why else ""))
    return "\n".join(lines)
