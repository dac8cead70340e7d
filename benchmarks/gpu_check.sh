#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): one table, under 8 minutes on one GPU. Needs torch, transformers and
# peft (the lent GPU machines have them); faiss is measured when installed. Extra arguments go to the script.
set -euo pipefail
cd "$(dirname "$0")/.."
export HAYSTACK_TELEMETRY_ENABLED=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec timeout 480 "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
