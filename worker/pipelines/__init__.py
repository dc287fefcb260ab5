"""The pipeline registry: one class per task name (aliases resolve through nlpbatch.tasks)."""

from __future__ import annotations

from nlpbatch.tasks import get_task
from worker.pipelines.base import Pipeline
from worker.pipelines.feature_extraction import FeatureExtractionPipeline
from worker.pipelines.fill_mask import FillMaskPipeline
from worker.pipelines.generation import SummarizationPipeline, TextGenerationPipeline, TranslationPipeline
from worker.pipelines.question_answering import QuestionAnsweringPipeline
from worker.pipelines.similarity import SimilarityPipeline
from worker.pipelines.text_classification import TextClassificationPipeline
from worker.pipelines.token_classification import TokenClassificationPipeline
from worker.pipelines.tokenize import TokenizePipeline
from worker.pipelines.zero_shot import ZeroShotClassificationPipeline

#: Every pipeline class; each names its task, model head and int8 comparison itself.
PIPELINE_CLASSES: tuple[type[Pipeline], ...] = (
    TextClassificationPipeline,
    FeatureExtractionPipeline,
    TokenClassificationPipeline,
    QuestionAnsweringPipeline,
    SimilarityPipeline,
    FillMaskPipeline,
    ZeroShotClassificationPipeline,
    TokenizePipeline,
    SummarizationPipeline,
    TranslationPipeline,
    TextGenerationPipeline,
)
PIPELINES: dict[str, type[Pipeline]] = {cls.task: cls for cls in PIPELINE_CLASSES}


def pipeline_class(task: str) -> type[Pipeline]:
    """The pipeline for a task name or alias."""
    return PIPELINES[get_task(task).name]
