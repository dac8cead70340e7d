"""Collections: a durable document store plus versioned index builds per kind (bm25, dense)."""
