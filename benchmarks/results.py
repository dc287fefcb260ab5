"""RESULTS.md and the chart: rates, ratios to variant 1, the targets, and the machine."""

from __future__ import annotations

import argparse
import platform
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

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


TARGETS = [
    ("`run` fp32 vs variant 1", "4 ", "1 ", 3.0),
    ("`run` int8 vs variant 1", "5 ", "1 ", 6.5),
    ("`run` fp32 vs variant 3a", "4 ", "3a ", 2.0),
    ("`run` fp32 vs variant 3b", "4 ", "3b ", 1.2),
    ("`run` int8 vs variant 3b", "5 ", "3b ", 2.4),
    ("`submit` with two 1-thread workers vs `run` with 2 threads", "6b ", "4 ", 0.95),
]


def _find(results: list[Result], prefix: str) -> Result | None:
    return next((r for r in results if r.name.startswith(prefix)), None)


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import os

        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory = 0.0
    libs = ", ".join(f"{p} {version(p)}" for p in ("torch", "onnxruntime", "transformers", "optimum"))
    return f"{model or platform.processor()}, {memory:.0f} GiB, {platform.platform()}; {libs}"


def write_results(
    folder: Path,
    results: list[Result],
    peaks: list[float],
    threads: int,
    args: argparse.Namespace,
    command: str,
    wall: float,
) -> tuple[Path, Path]:
    """Write RESULTS.md and throughput.png into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    peak = max(peaks)
    base = _find(results, "1 ")
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
    targets = ["| comparison | target | measured | met |", "|---|---|---|---|"]
    for label, a, b, goal in TARGETS:
        ra, rb = _find(results, a), _find(results, b)
        if ra and rb:
            got = ra.docs_per_second / rb.docs_per_second
            targets.append(f"| {label} | >= {goal}x | {got:.2f}x | {'yes' if got >= goal else 'no'} |")
    fp32 = _find(results, "4 ")
    if fp32 and fp32.gflops():
        share = (fp32.gflops() or 0) / peak
        targets.append(
            f"| achieved fp32 model FLOP/s vs the onnxruntime MatMul peak | >= 85% | {share:.0%} | "
            f"{'yes' if share >= 0.85 else 'no'} |"
        )
    notes = []
    small, big = _find(results, "5 "), _find(results, "10x")
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
    text = f"""# nlpbatch throughput benchmark

Command: `{command}` ({wall:.0f} s wall, everything included).

Machine: {machine()}. {threads} model threads for every variant.

Corpus: deterministic review-like English, 10 to 300 words per document, {args.corpus_docs}
documents written by `benchmarks/corpus.py`; every variant runs the same first {args.docs}
(fewer than the corpus so that the PyTorch baselines fit the 10-minute budget: rates are per
document and per token). Model: DistilBERT-base for sequence classification from its default
config, random weights (the same compute as trained ones), uncased BERT WordPiece vocabulary;
`embed` rows use the packaged all-MiniLM-L6-v2. The variants run in this one run, each in
its own process, interleaved over {args.rounds} round(s) that each take their own slice of
those documents (the 10x check runs once); times exclude model loading (and nlpbatch's int8 gate,
reported apart), padding for `transformers.pipeline` is computed from its batches in input
order. `submit` variants run a real Redis and real `nlpbatch worker` processes started by the
bench, chunks of {args.submit_chunk} documents; their time runs from when a worker began the
first chunk to the last chunk done. GFLOP/s count useful model FLOPs only (no padding),
against onnxruntime's own fp32 MatMul on 4096 x 4096 matrices: {", ".join(f"{p:.1f}" for p in peaks)} GFLOP/s
(before and after the variants; the higher is the peak). int8 rows do the same work in
int8 arithmetic, so their GFLOP/s are not set against the fp32 peak.

## Results

{chr(10).join(rows)}

![throughput]({png.name})

## Targets

{chr(10).join(targets)}

{chr(10).join(f"- {n}" for n in notes)}
"""
    md = folder / "RESULTS.md"
    md.write_text(text, encoding="utf-8")
    return md, png


def _chart(path: Path, results: list[Result], base: Result | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in results if r.task == "sentiment"]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(shown) + 1.2))
    names = [r.name for r in shown][::-1]
    rates = [r.docs_per_second for r in shown][::-1]
    bars = ax.barh(names, rates, color="#4c72b0")
    for bar, r in zip(bars, shown[::-1], strict=True):
        ratio = f"  {r.docs_per_second / base.docs_per_second:.2f}x" if base else ""
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, ratio, va="center", fontsize=8)
    ax.set_xlabel("documents per second (DistilBERT-base, higher is better)")
    ax.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
