"""Models: the Embedder and Reranker protocols; resolving a model; the PyTorch and ONNX Runtime backends;
ONNX export; one factory (`factory.open_models`) that resolves and opens them for both front ends."""
