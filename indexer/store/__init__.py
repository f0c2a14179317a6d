"""Store: the SQLite catalog (files, chunks, embeddings), its full-text index and the vector index."""
