"""Shared vocabulary of siftrag: settings, errors, the model registry and loading, the LLM backend (with request
batching, LoRA deltas and LoRA training), deadlines and atomic publishing."""
import os

# Haystack phones home unless told not to; siftrag runs offline.
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import logging as _logging

for _noisy in ("bm25s", "httpx", "sentence_transformers", "transformers.modeling_utils"):
    _logging.getLogger(_noisy).setLevel(_logging.WARNING)
