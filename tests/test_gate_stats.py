"""The int8 gate's statistics: its interval, and reading more documents only near the threshold."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nlpbatch.report import describe
from nlpbatch.settings import Settings
from tests.engines import engine, run_gate
from worker.gate_stats import (
    confident_agreement,
    estimate,
    normal_interval,
    read_until_settled,
    wilson_interval,
)


def hand_wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval as textbooks write it."""
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = (z / (1 + z**2 / n)) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(254, 256), (252, 256), (2027, 2048), (10, 20)])
def test_the_wilson_interval_matches_the_hand_computed_one(k: int, n: int) -> None:
    low, high = wilson_interval(k, n)
    expected = hand_wilson(k, n)
    assert low == pytest.approx(expected[0], abs=1e-12) and high == pytest.approx(expected[1], abs=1e-12)


def test_the_wilson_interval_of_254_in_256_is_about_0972_to_0998() -> None:
    # Worked by hand: p = 0.99219, z = 1.96: centre 0.98502, half-width 0.01300.
    low, high = wilson_interval(254, 256)
    assert round(low, 4) == 0.9720 and round(high, 4) == 0.9979


def test_perfect_agreement_still_has_an_interval_below_one() -> None:
    low, high = wilson_interval(256, 256)
    assert high == pytest.approx(1.0) and low == pytest.approx(256 / (256 + 1.959963984540054**2), abs=1e-9)


def test_the_normal_interval_is_mean_plus_minus_z_standard_errors() -> None:
    values = [0.99, 0.98, 1.0, 0.97, 0.995]
    mean = sum(values) / 5
    se = math.sqrt(sum((v - mean) ** 2 for v in values) / 4 / 5)
    low, high = normal_interval(values)
    assert low == pytest.approx(mean - 1.959963984540054 * se) and high == pytest.approx(
        mean + 1.96 * se, abs=1e-4
    )


def agreeing(share: float, total: int = 10_000) -> Iterator[dict[str, Any]]:
    """Documents of which `share` agree, spread evenly (a stub comparison with known agreement)."""
    wrong_every = round(1 / (1 - share)) if share < 1 else total + 1
    for i in range(total):
        yield {"id": i, "agree": (i + 1) % wrong_every != 0}


def measure(batch: list[dict[str, Any]]) -> list[float]:
    return [1.0 if d["agree"] else 0.0 for d in batch]


def test_near_the_threshold_the_gate_reads_up_to_its_cap() -> None:
    found, read = read_until_settled(
        agreeing(0.99), measure, kind="share", threshold=0.99, first=256, max_docs=2048
    )
    assert read == 2048 and found is not None and found.docs == 2048
    assert found.straddles(0.99)  # still undecided: the report says so


def test_far_below_the_threshold_the_gate_stops_after_its_first_documents() -> None:
    found, read = read_until_settled(agreeing(0.9), measure, kind="share", threshold=0.99, first=256)
    assert read == 256 and found is not None and found.high is not None and found.high < 0.99


def test_far_above_the_threshold_the_gate_stops_as_soon_as_the_interval_clears_it() -> None:
    found, read = read_until_settled(agreeing(1.0), measure, kind="share", threshold=0.95, first=256)
    assert read == 256 and found is not None and found.low is not None and found.low > 0.95


def test_perfect_agreement_at_099_needs_a_second_batch_to_be_sure() -> None:
    # 256 of 256 leaves the lower bound at 0.985; 512 of 512 puts it above 0.99.
    found, read = read_until_settled(agreeing(1.0), measure, kind="share", threshold=0.99, first=256)
    assert read == 512 and found is not None and not found.straddles(0.99)


def test_the_gate_never_reads_past_a_short_corpus() -> None:
    found, read = read_until_settled(
        agreeing(0.99, total=300), measure, kind="share", threshold=0.99, first=256
    )
    assert read == 300 and found is not None and found.docs == 300


def test_a_pooled_metric_reads_only_its_first_documents_and_has_no_interval() -> None:
    found, read = read_until_settled(agreeing(0.99), measure, kind="pooled", threshold=0.99, first=256)
    assert found is None and read == 256


def test_a_mean_metric_uses_the_normal_interval() -> None:
    result = estimate("mean", [0.999, 0.998, 0.9995, 0.997])
    assert result.method == "normal" and result.low is not None and result.low < result.value


def test_confident_agreement_counts_only_documents_fp32_scored_above_08() -> None:
    values = [1.0, 0.0, 1.0, 0.0]
    scores = [0.95, 0.55, 0.85, 0.81]
    assert confident_agreement(values, scores) == {
        "score_above": 0.8,
        "docs": 3,
        "value": pytest.approx(2 / 3),
    }


def test_the_gate_reports_its_interval_documents_and_confident_agreement_for_a_classifier(
    tiny_bert: Path, settings: Settings
) -> None:
    engine.configure(settings, threads=1, backend="onnx")
    docs = [{"id": i, "text": f"document number {i} is {'good' if i % 2 else 'bad'}"} for i in range(40)]
    result = run_gate(
        "sentiment", str(tiny_bert), {}, iter(docs), requested="auto", first_docs=16, max_docs=32
    )
    out = result.to_dict()
    assert out["interval"] == "wilson" and out["low"] <= out["value"] <= out["high"]
    assert out["docs"] in (16, 32)  # 16 first, 16 more only while the interval holds 0.99
    assert out["settled"] is (out["docs"] == 16 or not (out["low"] < 0.99 <= out["high"]))
    assert out["confident"]["score_above"] == 0.8 and out["confident"]["docs"] <= out["docs"]
    line = describe(
        {"docs": 1, "errors": 0, "seconds": 1.0, "docs_per_second": 1.0, "tokens_per_second": 1.0,
         "backend": "onnx", "precision": result.precision, "gate": out, "processes": 1, "threads": 1,
         "padding_waste": 0.0, "peak_rss_mb": 1.0}
    )  # fmt: skip
    assert f"95% interval {out['low']:.4f}-{out['high']:.4f}" in line and f"{out['docs']} documents" in line


def test_the_chunks_read_ahead_for_the_gate_come_back_unchanged_and_in_order(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import worker.gate
    from nlpbatch.gating import GateOptions
    from producer.job import JobSpec, RunOptions
    from producer.precision import choose_precision

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(f'{{"id": {i}, "text": "text {i}"}}\n' for i in range(1000)))
    gate_350 = RunOptions(gate=GateOptions(docs=350, max_docs=350))  # stops inside the fourth chunk
    job = JobSpec(
        "sentiment", "m", (str(corpus),), str(tmp_path / "o.jsonl"), precision="auto", chunk_size=100,
        options=gate_350,
    )  # fmt: skip
    read: list[int] = []

    class Agreeing:
        """Both precisions agreeing on every document, with no model run."""

        def __init__(self, *args: Any) -> None:
            self.pairs: list[Any] = []
            self.kept = {"int8": worker.gate._Kept(), "fp32": worker.gate._Kept()}
            self.model_seconds = 0.0
            self.seconds = {"fp32": 0.0, "int8": 0.0}
            self.speedup = None  # not timed: auto goes by accuracy alone

        def __call__(self, batch: list[Any]) -> list[float]:
            read.extend(doc["id"] for _, _, doc in batch)
            return [1.0] * len(batch)

    monkeypatch.setattr(worker.gate, "_Both", Agreeing)
    decision = choose_precision(job, job.messages("j"), settings)
    precision, result, sent = decision.precision, decision.gate, list(decision.messages)
    assert precision == "int8" and result is not None and read == list(range(350))
    assert [m.index for m in sent] == list(range(10)) and all(m.precision == "int8" for m in sent)
    assert [d for m in sent for d in m.docs] == [d for m in job.messages("j") for d in m.docs]
