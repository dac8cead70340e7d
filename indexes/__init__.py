"""Collections: a durable document store plus versioned index builds per kind (bm25, dense FAISS, TILDEv2 impacts),
the TILDEv2 scorer and its training, and the retriever component over one index kind."""
