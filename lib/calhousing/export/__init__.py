"""The run's models as ONNX graphs and C99, their model card, and onnxruntime's own quantizers."""
