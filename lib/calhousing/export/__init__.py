"""The run's models as ONNX graphs, and onnxruntime's own quantizers as the anchor they are
measured against.
"""
