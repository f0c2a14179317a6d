"""Search: the query language, the searcher's stages (parse, retrieve, fuse, rerank, present, explain),
stage scores and relevance, and evaluation."""
