#!/usr/bin/env bash
# Install xunshi into ./.venv: the CPU build of torch first (so nothing can pull a CUDA build),
# then the package with its test extras. Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $PYTHON" >&2
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
# The CPU build of torch that lies on this machine's disk; pinned again in pyproject.toml.
"${PIP[@]}" install -q "torch==2.13.0"
"${PIP[@]}" install -q -e ".[test]"
"${PIP[@]}" check >&2
echo "setup: done ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))" >&2
