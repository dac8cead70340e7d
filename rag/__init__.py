"""Composition: retrieval pipelines (hybrid fusion), compressors, generation, dynamic retrieval."""
