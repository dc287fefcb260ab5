"""The embed gate's reported neighbour overlap: what a search over the vectors would see change."""

from __future__ import annotations

import numpy as np

from worker.comparisons import neighbour_overlap_at_10, top_k_overlap


def _vectors(n: int = 60, dim: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim))


def test_identical_vectors_keep_every_neighbour() -> None:
    vectors = _vectors()
    records = [{"embedding": v.tolist()} for v in vectors]
    assert neighbour_overlap_at_10(records, records) == 1.0
    # Scaled vectors have the same cosines, so the same neighbours.
    assert top_k_overlap(vectors, 3.0 * vectors) == 1.0


def test_shuffled_vectors_lose_most_neighbours() -> None:
    vectors = _vectors()
    shuffled = vectors[np.random.default_rng(1).permutation(len(vectors))]
    overlap = neighbour_overlap_at_10(
        [{"embedding": v.tolist()} for v in vectors], [{"embedding": v.tolist()} for v in shuffled]
    )
    assert overlap < 0.5  # chance is 10/59


def test_small_noise_keeps_more_neighbours_than_large_noise() -> None:
    vectors = _vectors()
    rng = np.random.default_rng(2)
    near = top_k_overlap(vectors, vectors + 0.05 * rng.normal(size=vectors.shape))
    far = top_k_overlap(vectors, vectors + 1.0 * rng.normal(size=vectors.shape))
    assert 1.0 > near > far


def test_passage_records_count_each_passage_and_errors_are_skipped() -> None:
    vectors = _vectors(24)
    records = [{"passages": [{"embedding": v.tolist()} for v in vectors[i : i + 2]]} for i in range(0, 24, 2)]
    other = vectors[np.random.default_rng(3).permutation(24)]
    shuffled = [{"passages": [{"embedding": v.tolist()} for v in other[i : i + 2]]} for i in range(0, 24, 2)]
    assert neighbour_overlap_at_10([*records, {"error": "x"}], [*records, {"embedding": [1.0]}]) == 1.0
    assert neighbour_overlap_at_10(records, shuffled) < 0.7  # chance is 10/23
    assert neighbour_overlap_at_10([{"embedding": [1.0, 0.0]}], [{"embedding": [0.0, 1.0]}]) == 1.0
