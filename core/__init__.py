"""Shared vocabulary of siftrag: settings, errors, the model registry and model loading."""
import os

# Haystack phones home unless told not to; siftrag runs offline.
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
