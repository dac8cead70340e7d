#!/usr/bin/env bash
# Set up (if needed), make sure Redis and Debian's Chromium (for the playground's browser test) are there, then run
# the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --port 6379 --save "" --appendonly no
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
if [ ! -x "${SIFTRAG_TEST_CHROMIUM:-/usr/bin/chromium}" ] && command -v apt-get >/dev/null; then
  sudo=$( [ "$(id -u)" = 0 ] || echo sudo )
  $sudo apt-get install -y -q chromium >/dev/null || { $sudo apt-get update -q && $sudo apt-get install -y -q chromium >/dev/null; }
fi
export HAYSTACK_TELEMETRY_ENABLED=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
