"""RESULTS.md and the chart: rates, ratios to variant 1, the targets, and the machine."""

from __future__ import annotations

import argparse
import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.report import MODEL_TIME_GATE_DOCS, TEMPLATE
from benchmarks.targets import agreement_notes, cpu, find, target_rows, wall_rows

if TYPE_CHECKING:
    from benchmarks.process import WallResult

# DistilBERT-base: 6 layers, hidden 768, feed-forward 3072.
LAYERS, HIDDEN, FFN = 6, 768, 3072
#: Multiply-adds x 2 per token in the dense layers (Q, K, V, output, two feed-forward).
LINEAR_FLOPS = 2 * LAYERS * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN)


def model_flops(lengths: list[int]) -> float:
    """Useful FLOPs of DistilBERT-base over documents of these token lengths (no padding).

    Dense layers cost the same per token; attention scores and their weighted sum cost
    4 x hidden x length per token per layer.
    """
    return float(sum(n * LINEAR_FLOPS + 4 * LAYERS * HIDDEN * n * n for n in lengths))


@dataclass
class Result:
    """One variant's measurement."""

    name: str
    task: str
    docs: int
    seconds: float
    tokens: int
    padded_tokens: int
    peak_rss_mb: float
    lengths: list[int] = field(repr=False)
    precision: str = "fp32"
    gate: dict[str, Any] | None = None
    processes: int = 1
    threads: int = 0
    #: An engine anchor's logits per document, to set an int8 engine against fp32.
    logits: list[list[float]] | None = field(default=None, repr=False)

    def merged(self, other: Result) -> Result:
        """This variant over both slices of the corpus."""
        return Result(
            self.name,
            self.task,
            self.docs + other.docs,
            self.seconds + other.seconds,
            self.tokens + other.tokens,
            self.padded_tokens + other.padded_tokens,
            max(self.peak_rss_mb, other.peak_rss_mb),
            self.lengths + other.lengths,
            self.precision,
            self.gate,
            max(self.processes, other.processes),
            self.threads,
            self.logits + other.logits if self.logits is not None and other.logits is not None else None,
        )

    @property
    def docs_per_second(self) -> float:
        return self.docs / self.seconds

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds

    @property
    def padding(self) -> float:
        return 1 - self.tokens / self.padded_tokens if self.padded_tokens else 0.0

    def gflops(self) -> float | None:
        return model_flops(self.lengths) / self.seconds / 1e9 if self.task == "sentiment" else None


#: The engines' own packages, named with their versions in the machine line.
LIBRARIES = ("torch", "onnxruntime", "transformers", "optimum", "openvino", "nncf", "ctranslate2")


def machine() -> str:
    model, vendor = cpu()
    try:
        import os

        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory = 0.0
    libs = ", ".join(f"{p} {_version(p)}" for p in LIBRARIES)
    name = model or platform.processor()
    from worker.tuning import cpu as cpu_kind

    flags = " ".join(cpu_kind()["flags"]) or "none found"
    return (
        f"CPU model name `{name}` ({vendor or 'unknown vendor'}, {os.cpu_count()} logical CPUs; "
        f"ISA flags: {flags}), {memory:.0f} GiB, {platform.platform()}; {libs}"
    )


def cpu_heading() -> str:
    """The CPU kind a RESULTS.md section was measured on: model name and the flags that matter."""
    from worker.tuning import describe_cpu

    return describe_cpu()


def put_section(md: Path, name: str, text: str) -> None:
    """Put `text` into RESULTS.md as the section `name` of this CPU kind.

    The file keeps one section per benchmark and CPU kind measured: a run replaces only the
    section of its own benchmark on its own kind of CPU, and appends one the file lacks.
    """
    key = f"{name} on {cpu_heading()}"
    begin, end = f"<!-- section: {key} -->", f"<!-- end section: {key} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    old = md.read_text(encoding="utf-8") if md.is_file() else "# nlpbatch benchmark results\n\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    md.write_text(new, encoding="utf-8")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def write_results(
    folder: Path,
    results: list[Result],
    walls: list[WallResult],
    peaks: list[float],
    threads: int,
    args: argparse.Namespace,
    command: str,
    wall: float,
) -> tuple[Path, Path]:
    """Write RESULTS.md and throughput.png into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    peak = max(peaks)
    base = find(results, "1 ")
    rows = [
        "| variant | docs | docs/s | tokens/s | vs 1 | padding | peak RSS MiB | GFLOP/s | of MatMul peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = f"{r.docs_per_second / base.docs_per_second:.2f}x" if base and r.task == "sentiment" else ""
        gf = r.gflops()
        rows.append(
            f"| {r.name} | {r.docs} | {r.docs_per_second:.2f} | {r.tokens_per_second:.0f} | {ratio} | "
            f"{r.padding:.1%} | {r.peak_rss_mb:.0f} | {f'{gf:.1f}' if gf else ''} | "
            f"{f'{gf / peak:.0%}' if gf and r.precision == 'fp32' else ''} |"
        )
    fp32 = find(results, "4 ")
    share = (fp32.gflops() or 0) / peak if fp32 and fp32.gflops() else None
    targets = target_rows(results, walls, share)
    notes = agreement_notes(results)
    small, big = find(results, "5 "), find(results, "10x")
    if small and big:
        notes.append(
            f"10x corpus check (nlpbatch run int8): {small.docs} docs at {small.docs_per_second:.2f} docs/s "
            f"and {small.peak_rss_mb:.0f} MiB peak RSS; {big.docs} docs at {big.docs_per_second:.2f} docs/s "
            f"({big.docs_per_second / small.docs_per_second:.2f}x) and {big.peak_rss_mb:.0f} MiB "
            f"({big.peak_rss_mb / small.peak_rss_mb:.2f}x)."
        )
    for r in results:
        if r.gate:
            value = r.gate.get("value")
            notes.append(
                f"{r.name}: int8 gate {r.gate['metric']} {value:.4f} over {r.gate['docs']} documents "
                f"(threshold {r.gate['threshold']}), ran in {r.precision}."
            )
    png = folder / "throughput.png"
    _chart(png, results, base)
    md = folder / "RESULTS.md"
    put_section(
        md,
        "make bench",
        TEMPLATE.format(
            command=command,
            wall=wall,
            machine=machine(),
            threads=threads,
            gate_docs=MODEL_TIME_GATE_DOCS,
            args=args,
            peaks=", ".join(f"{p:.1f}" for p in peaks),
            rows="\n".join(rows),
            png=png.name,
            walls="\n".join(wall_rows(walls)),
            targets="\n".join(targets),
            notes="\n".join(f"- {n}" for n in notes),
            cpu=cpu_heading(),
        ),
    )
    return md, png


def _chart(path: Path, results: list[Result], base: Result | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in results if r.task == "sentiment"]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(shown) + 1.2))
    names = [r.name for r in shown][::-1]
    rates = [r.docs_per_second for r in shown][::-1]
    # Other engines (A rows) in grey, so nlpbatch's rows and the pipelines stand out.
    colors = ["#999999" if name[:1] == "A" else "#4c72b0" for name in names]
    bars = ax.barh(names, rates, color=colors)
    for bar, r in zip(bars, shown[::-1], strict=True):
        ratio = f"  {r.docs_per_second / base.docs_per_second:.2f}x" if base else ""
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, ratio, va="center", fontsize=8)
    ax.set_xlabel("documents per second (DistilBERT-base, higher is better)")
    ax.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
