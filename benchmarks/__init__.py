"""Side-by-side throughput measurements: nlpbatch against transformers and optimum pipelines."""
