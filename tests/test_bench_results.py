"""RESULTS.md keeps one section per benchmark and CPU kind: a run never overwrites another CPU's figures."""

from __future__ import annotations

from pathlib import Path

import pytest

import benchmarks.results as results


def test_a_run_replaces_its_own_cpus_section_and_keeps_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    md = tmp_path / "RESULTS.md"
    monkeypatch.setattr(results, "cpu_heading", lambda: "AMD EPYC (x86_64; avx2 fma)")
    results.put_section(md, "make bench", "## bench on AMD\n\nfirst AMD figures\n")
    results.put_section(md, "generation", "## generation on AMD\n\ngeneration figures\n")
    monkeypatch.setattr(results, "cpu_heading", lambda: "Intel Xeon (x86_64; amx_int8 avx512_vnni)")
    results.put_section(md, "make bench", "## bench on Intel\n\nIntel figures\n")
    monkeypatch.setattr(results, "cpu_heading", lambda: "AMD EPYC (x86_64; avx2 fma)")
    results.put_section(md, "make bench", "## bench on AMD\n\nsecond AMD figures\n")
    text = md.read_text()
    assert "first AMD figures" not in text and text.count("second AMD figures") == 1
    assert "Intel figures" in text and "generation figures" in text
    # In the order first measured: AMD's bench, AMD's generation, then Intel's bench.
    assert text.index("second AMD") < text.index("generation figures") < text.index("Intel figures")


def test_the_machine_line_names_the_cpus_isa_flags() -> None:
    from worker.tuning import cpu

    line = results.machine()
    assert "ISA flags:" in line
    assert all(flag in line for flag in cpu()["flags"])
