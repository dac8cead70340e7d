"""Evaluation: BEIR/TREC loaders, run files, ir-measures metrics, reports, the eval runner."""
