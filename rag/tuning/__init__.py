"""Tuning a collection without labels: synthetic queries from its passages, filtered by round trip, with mined
negatives (the training data of ``siftrag tune``)."""
