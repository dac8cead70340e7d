#!/usr/bin/env bash
# Fresh machine → set up, index the bundled SciFact sample (bm25, dense, tilde), evaluate it,
# answer example queries, then serve the REST API on the embedded default (no external services).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HAYSTACK_TELEMETRY_ENABLED=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/siftrag quickstart "$@"
