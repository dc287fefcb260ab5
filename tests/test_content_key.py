"""An edited local model gets a new content key, so its export is rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlpbatch.modelref import resolve

FILES = [
    "generation_config.json",
    "model-00001-of-00002.safetensors",
    "model.safetensors.index.json",
    "pytorch_model-00001-of-00002.bin",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "added_tokens.json",
]


@pytest.mark.parametrize("name", FILES)
def test_editing_a_defining_file_changes_the_key(tmp_path: Path, name: str) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / name).write_text("first")
    before = resolve(str(tmp_path)).content_key
    (tmp_path / name).write_text("second, longer")
    assert resolve(str(tmp_path)).content_key != before
