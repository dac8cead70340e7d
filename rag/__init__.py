"""Composition: retrievers by name (hybrid fusion), compressors, answer formats and generation, dynamic retrieval
(DRAGIN and baselines), DyPRAG, reader training."""
