#!/usr/bin/env bash
# Install xunshi into ./.venv: the run-time dependencies exactly as requirements.lock pins them, each file checked
# against its hash (the lock pins the CPU build of torch, so nothing can pull a CUDA build), then the package
# itself, then its test extras. Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $PYTHON" >&2
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
# torch's CPU build comes from the machine's pip configuration (find-links /opt/wheels here); see README.
"${PIP[@]}" install -q --require-hashes -r requirements.lock
"${PIP[@]}" install -q --no-deps -e .
# The test extras are not locked; the lock's versions hold them to what the run time uses.
CONSTRAINTS=$(mktemp) TEST_EXTRAS=$(mktemp)
trap 'rm -f "$CONSTRAINTS" "$TEST_EXTRAS"' EXIT
grep -E '^[A-Za-z0-9]' requirements.lock | sed 's/ *\\$//' > "$CONSTRAINTS"
.venv/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["test"]))' \
    > "$TEST_EXTRAS"
"${PIP[@]}" install -q -c "$CONSTRAINTS" -r "$TEST_EXTRAS"
"${PIP[@]}" check >&2
echo "setup: done ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))" >&2
