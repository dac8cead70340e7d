"""Rerankers, each a Haystack component: run(query, documents, top_k) → reordered documents + cost."""
