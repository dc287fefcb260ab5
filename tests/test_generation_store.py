"""Generative exports: several ONNX graphs per entry, complete only once the marker is written."""

from __future__ import annotations

from pathlib import Path

from nlpbatch.modelref import resolve
from nlpbatch.schema import ChunkMessage
from nlpbatch.settings import Settings
from tests.engines import engine
from worker.models.store import MARKER, cache_key, is_complete, onnx_model_dir

SEQ2SEQ = "text2text-generation-with-past"


def test_a_seq2seq_export_holds_encoder_and_decoder_graphs_and_is_reused(
    tiny_t5: Path, settings: Settings
) -> None:
    cache = settings.onnx_dir  # the session's: the pipelines' tests export the same entry
    folder = onnx_model_dir(resolve(str(tiny_t5)), SEQ2SEQ, "fp32", cache)
    graphs = {p.name for p in folder.glob("*.onnx")}
    assert {"encoder_model.onnx", "decoder_model_merged.onnx"} <= graphs and "model.onnx" not in graphs
    stamp = (folder / MARKER).stat().st_mtime_ns
    assert onnx_model_dir(resolve(str(tiny_t5)), SEQ2SEQ, "fp32", cache) == folder
    assert (folder / MARKER).stat().st_mtime_ns == stamp  # found, not exported again


def test_an_entry_without_its_marker_is_exported_again(tiny_t5: Path, tmp_path: Path) -> None:
    source = resolve(str(tiny_t5))
    torn = tmp_path / cache_key(source, SEQ2SEQ, "fp32")
    torn.mkdir()
    (torn / "encoder_model.onnx").write_bytes(b"half a graph")  # what a torn copy might leave
    assert not is_complete(torn)
    assert onnx_model_dir(source, SEQ2SEQ, "fp32", tmp_path) == torn
    assert is_complete(torn) and (torn / "encoder_model.onnx").stat().st_size > 1000


def test_int8_quantizes_every_graph_and_still_generates(tiny_t5: Path, settings: Settings) -> None:
    import onnx

    engine.configure(settings, threads=1, backend="onnx")
    docs = [{"id": i, "text": t} for i, t in enumerate(["i love this movie", "", "한국어 😀"])]
    msg = ChunkMessage(
        job_id="t",
        index=0,
        task="summarize",
        model=str(tiny_t5),
        docs=docs,
        precision="int8",
        params={"max_new_tokens": 6},
    )
    records = engine.run_chunk(msg)
    assert [r["id"] for r in records] == [0, 1, 2] and all("summary_text" in r for r in records)
    folder = onnx_model_dir(resolve(str(tiny_t5)), SEQ2SEQ, "int8", settings.onnx_dir)
    for graph in folder.glob("*.onnx"):
        ops = op_types(onnx.load(str(graph)).graph)
        assert ops & {"MatMulInteger", "DynamicQuantizeMatMul", "DynamicQuantizeLinear"}, graph.name


def op_types(graph: object) -> set[str]:
    """Every operator in a graph, including the branches of a merged decoder's If node."""
    out = set()
    for node in graph.node:  # type: ignore[attr-defined]
        out.add(node.op_type)
        for attr in node.attribute:
            if attr.HasField("g"):
                out |= op_types(attr.g)
    return out
