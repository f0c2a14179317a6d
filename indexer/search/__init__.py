"""Search: the query language, the searcher (retrieve, fuse, rerank, present) and evaluation."""
