"""The pipeline registry: one class per task name (aliases resolve through nlpbatch.tasks)."""

from __future__ import annotations

from nlpbatch.tasks import get_task
from worker.pipelines.base import Pipeline
from worker.pipelines.feature_extraction import FeatureExtractionPipeline
from worker.pipelines.text_classification import TextClassificationPipeline

PIPELINES: dict[str, type[Pipeline]] = {
    "sentiment": TextClassificationPipeline,
    "embed": FeatureExtractionPipeline,
}


def pipeline_class(task: str) -> type[Pipeline]:
    """The pipeline for a task name or alias."""
    return PIPELINES[get_task(task).name]
