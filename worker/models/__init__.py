"""The model store: ONNX exports cached on disk, and loading models for a task."""
