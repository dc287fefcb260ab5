"""Outputs and their parts get the mode the umask gives (0644 under 022), as any file a user writes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from nlpbatch import storage
from nlpbatch.outputs import open_output
from nlpbatch.outputs.records import RecordWriter
from nlpbatch.tasks import get_task
from producer.cli import main

EMBED = get_task("embed")
RECORDS = [{"id": 1, "embedding": [0.5, 0.25]}, {"id": 2, "embedding": [1.0, 2.0]}]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.mark.parametrize("name", ["out.jsonl", "out.parquet"])
def test_an_output_written_to_a_path_gets_the_mode_of_the_umask(
    tmp_path: Path, umask: int, name: str
) -> None:
    out = tmp_path / name
    with RecordWriter(out, EMBED) as w:
        w.write(RECORDS)
    assert mode_of(out) == 0o666 & ~umask


def test_an_output_written_to_a_file_url_gets_the_mode_of_the_umask(tmp_path: Path, umask: int) -> None:
    out = tmp_path / "url" / "out.jsonl"
    with RecordWriter(f"file://{out}", EMBED) as w:
        w.write(RECORDS)
    assert mode_of(out) == 0o666 & ~umask


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_parts_and_the_merged_output_get_the_mode_of_the_umask(
    tmp_path: Path, umask: int, as_url: bool
) -> None:
    out = tmp_path / "merged.jsonl"
    output = open_output(f"file://{out}" if as_url else str(out))
    output.write_part(0, RECORDS[:1])
    output.write_part(1, RECORDS[1:])
    parts = sorted((tmp_path / "merged.jsonl.parts").iterdir())
    assert [mode_of(p) for p in parts] == [0o666 & ~umask] * 2
    output.merge(EMBED, 2)
    assert mode_of(out) == 0o666 & ~umask


def test_write_bytes_gives_the_mode_of_the_umask(tmp_path: Path, umask: int) -> None:
    storage.write_bytes(tmp_path / "a.json", b"{}")
    storage.write_bytes(f"file://{tmp_path}/b.json", b"{}")
    assert mode_of(tmp_path / "a.json") == mode_of(tmp_path / "b.json") == 0o666 & ~umask


def test_run_writes_its_output_and_report_with_the_mode_of_the_umask(
    corpus: Path, tiny_bert: Path, tmp_path: Path, umask: int
) -> None:
    out = tmp_path / "run.jsonl"
    result = CliRunner().invoke(
        main, ["run", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "-o", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert mode_of(out) == 0o666 & ~umask
    assert mode_of(tmp_path / "run.jsonl.report.json") == 0o666 & ~umask


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def export_umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_model_exports_get_the_mode_of_the_umask(
    tiny_bert: Path, tiny_gpt2: Path, tmp_path: Path, export_umask: int
) -> None:
    """Workers of other users (a group) share one model cache: its folders and files follow the
    umask, as outputs do (0755 and 0644 under 022), not 0700 and 0600 whatever the umask."""
    from nlpbatch.modelref import resolve
    from worker.models.ct2_store import ct2_model_dir
    from worker.models.openvino_store import openvino_model_dir
    from worker.models.store import onnx_model_dir

    cache = tmp_path / "cache"  # a private cache, so the export is made here under this umask
    bert = resolve(str(tiny_bert))
    onnx = onnx_model_dir(bert, "text-classification", "fp32", cache)
    openvino = openvino_model_dir(bert, "text-classification", "fp32", cache)
    assert (onnx / "model.onnx_data").is_file() and (openvino / "openvino_model.bin").is_file()
    if export_umask == 0o077:  # one conversion (a child process) is enough: the model's files,
        # 0644 here, are copied in, and must not keep their own mode
        ct2 = ct2_model_dir(resolve(str(tiny_gpt2)), "text-generation-with-past", cache)
        assert (ct2 / "ct2" / "model.bin").is_file()
    made = [cache, *cache.rglob("*")]
    dirs = {str(p.relative_to(tmp_path)): mode_of(p) for p in made if p.is_dir()}
    files = {str(p.relative_to(tmp_path)): mode_of(p) for p in made if p.is_file()}
    assert dirs == {name: 0o777 & ~export_umask for name in dirs}
    assert files == {name: 0o666 & ~export_umask for name in files}
