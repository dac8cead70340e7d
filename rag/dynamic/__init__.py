"""Dynamic retrieval: when to retrieve while the model writes (DRAGIN's RIND, FLARE, fixed schedules) and
what to retrieve (DRAGIN's QFS)."""
