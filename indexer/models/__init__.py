"""Models: resolve an embedding model or reranker and run it on PyTorch or ONNX Runtime; ONNX export."""
