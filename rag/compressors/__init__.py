"""Context compressors: TCRA summarization and semantic compression, CRAG cluster summaries."""
