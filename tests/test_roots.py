"""The roots a worker checks outputs and models against: parsing and containment."""

from __future__ import annotations

import os
from pathlib import Path

from nlpbatch.roots import parse_roots, refusal, within
from nlpbatch.settings import Settings


def test_roots_are_read_from_the_environment_split_on_commas_and_the_path_separator() -> None:
    raw = f"/data/out,s3://bucket/out{os.pathsep}/srv/out"
    settings = Settings.from_env({"NLPBATCH_OUTPUT_ROOTS": raw, "NLPBATCH_MODEL_ROOTS": "/models"})
    assert settings.output_roots == ("/data/out", "s3://bucket/out", "/srv/out")
    assert settings.model_roots == ("/models",)
    assert Settings.from_env({}).output_roots == ()
    assert parse_roots(" , ") == ()


def test_a_path_is_within_a_root_only_once_dotdot_and_symlinks_are_resolved(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    roots = (str(root),)
    assert within(str(root / "a.jsonl"), roots)
    assert within(str(root / "deep" / "a.jsonl"), roots)
    assert not within(str(root / ".." / "a.jsonl"), roots)
    assert not within(str(root / "link" / "a.jsonl"), roots)
    assert not within(f"{root}-evil/a.jsonl", roots)
    assert within("/anywhere/a.jsonl", ())


def test_a_url_is_within_a_root_url_only_under_it_and_without_dotdot() -> None:
    roots = ("s3://bucket/out",)
    assert within("s3://bucket/out/a.parquet", roots)
    assert not within("s3://bucket/out-evil/a.parquet", roots)
    assert not within("s3://bucket/out/../secret/a.parquet", roots)
    assert not within("/bucket/out/a.parquet", roots)


def test_hub_and_packaged_models_pass_and_local_folders_must_be_under_a_model_root(tmp_path: Path) -> None:
    models = (str(tmp_path / "models"),)
    assert refusal("redis://", "distilbert/distilbert-base-uncased", (), models) is None
    assert refusal("redis://", str(tmp_path / "models" / "m"), (), models) is None
    assert "NLPBATCH_MODEL_ROOTS" in str(refusal("redis://", str(tmp_path / "other"), (), models))
    assert "NLPBATCH_OUTPUT_ROOTS" in str(refusal("/x/out.jsonl", "m", (str(tmp_path),), ()))
