"""Parametric RAG: documents turned into LoRA weights (PRAG) and a translator that predicts them (DyPRAG)."""
