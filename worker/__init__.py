"""nlpbatch workers: Celery tasks, NLP pipelines, model runtimes and the ONNX model store."""
