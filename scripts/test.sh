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
# PostgreSQL (the document-store tests; they skip with a sentence where a machine has none): start it if it is down.
if command -v pg_isready >/dev/null && ! pg_isready -h 127.0.0.1 -q; then
  (service postgresql start || pg_ctlcluster --skip-systemctl-redirect 15 main start) >/dev/null 2>&1 || true
fi
if [ ! -x "${SIFTRAG_TEST_CHROMIUM:-/usr/bin/chromium}" ] && command -v apt-get >/dev/null; then
  sudo=$( [ "$(id -u)" = 0 ] || echo sudo )
  $sudo apt-get install -y -q chromium >/dev/null || { $sudo apt-get update -q && $sudo apt-get install -y -q chromium >/dev/null; }
fi
export HAYSTACK_TELEMETRY_ENABLED=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
