"""Session fixtures: each tiny family model is built once and shared by the tests that use it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def family_models(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """family_models(family, head, labels=None): an encoder checkpoint, built once per session."""
    from tests.families import NER_LABELS, build_encoder

    built: dict[tuple[Any, ...], Path] = {}

    def get(family: str, head: str, labels: tuple[str, ...] | None = None) -> Path:
        if labels is None and head == "token-classification":
            labels = tuple(NER_LABELS)
        key = (family, head, labels)
        if key not in built:
            folder = tmp_path_factory.mktemp(f"family-{family}-{head}")
            built[key] = build_encoder(folder, family, head, list(labels or []))
        return built[key]

    return get


@pytest.fixture(scope="session")
def family_generators(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """family_generators(family, head="generate", **generation_config): BART, T5, GPT-2, Llama."""
    from tests.families import build_causal, build_seq2seq

    built: dict[tuple[Any, ...], Path] = {}

    def get(family: str, head: str = "generate", **generation: Any) -> Path:
        key = (family, head, tuple(sorted(generation.items())))
        if key not in built:
            folder = tmp_path_factory.mktemp(f"family-{family}-{head}")
            if family in ("gpt2", "llama"):
                built[key] = build_causal(folder, family, **generation)
            else:
                built[key] = build_seq2seq(folder, family, head, **generation)
        return built[key]

    return get
