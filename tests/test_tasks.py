"""Task names, aliases and parameters are checked before any work starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nlpbatch.errors import InvalidParameter, UnknownTask
from nlpbatch.tasks import ALIASES, TASKS, get_task
from worker.pipelines import PIPELINE_CLASSES, PIPELINES


def test_every_task_has_a_pipeline_and_every_pipeline_a_task() -> None:
    assert set(TASKS) == set(PIPELINES)
    for name, cls in PIPELINES.items():
        assert get_task(cls.task).name == name


def test_transformers_aliases_resolve_to_nlpbatch_tasks() -> None:
    assert get_task("text-classification").name == "sentiment"
    assert get_task("feature-extraction").name == "embed"
    assert all(get_task(alias).name == task for alias, task in ALIASES.items())


def test_an_unknown_task_names_the_valid_ones() -> None:
    with pytest.raises(UnknownTask, match=r"unknown task 'sentimant'; valid tasks: .*embed.*sentiment"):
        get_task("sentimant")


def test_parameters_are_coerced_from_strings_and_defaults_filled_in() -> None:
    params = get_task("embed").validate_params({"normalize": "false", "batch_size": "8"})
    assert params["normalize"] is False and params["batch_size"] == 8 and params["pooling"] == "mean"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"poolin": "mean"}, r"unknown parameter\(s\) poolin for task 'embed'; valid: .*pooling"),
        ({"pooling": "median"}, "must be one of: mean, cls, max"),
        ({"batch_size": "many"}, "expects int"),
        ({"normalize": "perhaps"}, "expects bool"),
    ],
)
def test_bad_parameters_are_refused_with_the_reason(raw: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        get_task("embed").validate_params(raw)


def test_every_spec_has_exactly_one_pipeline_class() -> None:
    tasks = [cls.task for cls in PIPELINE_CLASSES]
    assert sorted(tasks) == sorted(TASKS)  # none missing, none twice


def test_a_pipeline_runs_a_model_exactly_when_it_has_a_head_and_then_it_has_an_int8_comparison() -> None:
    for cls in PIPELINE_CLASSES:
        assert cls.runs_model == (cls.head is not None), cls.task
        if cls.runs_model:
            assert cls.comparison is not None, f"{cls.task} runs a model but has no int8 comparison"
            assert 0 < cls.comparison.threshold <= 1
    assert get_task("tokenize").name in {cls.task for cls in PIPELINE_CLASSES if cls.head is None}


def test_every_head_names_classes_that_transformers_and_optimum_have() -> None:
    import optimum.onnxruntime
    import transformers

    for cls in PIPELINE_CLASSES:
        if cls.head is None:
            continue
        assert hasattr(transformers, cls.head.auto_class), cls.task
        if cls.head.generative:
            assert hasattr(optimum.onnxruntime, str(cls.head.ort_class)), cls.task


def test_the_similarity_head_follows_the_model_cross_encoder_or_bi_encoder(tmp_path: Path) -> None:
    from worker.pipelines.similarity import SimilarityPipeline

    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"]}))
    cross = SimilarityPipeline.head_for(str(tmp_path), {})
    bi = SimilarityPipeline.head_for(str(tmp_path), {"mode": "bi-encoder"})
    assert cross is not None and cross.export_task == "text-classification"
    assert bi is not None and bi.export_task == "feature-extraction"


def test_the_task_specs_import_without_torch_onnxruntime_or_transformers() -> None:
    code = (
        "import sys, nlpbatch.tasks\n"
        "from nlpbatch.tasks import TASKS, get_task\n"
        "get_task('embed').validate_params({'normalize': 'false'})\n"
        "heavy = {'torch', 'onnxruntime', 'transformers'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_misspelt_task_name_is_answered_with_the_closest_task() -> None:
    with pytest.raises(UnknownTask, match=r"valid tasks: .*; did you mean 'sentiment'\?$"):
        get_task("sentimant")
    with pytest.raises(UnknownTask) as caught:
        get_task("xyzzy")
    assert "did you mean" not in str(caught.value)


def test_a_misspelt_parameter_is_answered_with_the_closest_parameter() -> None:
    with pytest.raises(InvalidParameter, match=r"valid: .*; did you mean 'pooling'\?$"):
        get_task("embed").validate_params({"poolin": "mean"})
    with pytest.raises(InvalidParameter) as caught:
        get_task("embed").validate_params({"colour": "red"})
    assert "did you mean" not in str(caught.value)
