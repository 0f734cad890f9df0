#!/usr/bin/env bash
# Regenerate requirements.lock: every run-time dependency of pyproject.toml (not the test extras) at an exact
# version with its hashes, resolved by pip-compile (pip-tools) for CPython 3.11 on Linux, with torch held to its
# CPU build. Run it after changing the dependencies in pyproject.toml; extra arguments go to pip-compile, e.g.
#   ./scripts/lock.sh --upgrade-package gradio
#   ./scripts/lock.sh --extra-index-url https://download.pytorch.org/whl/cpu   # adds the hashes of torch's CPU
#                                                                              # build for ARM (see README)
# Needs PyPI (or a mirror configured for pip) and the CPU build of torch: TORCH_WHEELS (default /opt/wheels).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "lock: $PYTHON is not Python 3.11; the lock is resolved for the Python the bundles target (PYTHON=/path/to/python3.11)" >&2
    exit 2
fi
TORCH_WHEELS=${TORCH_WHEELS:-/opt/wheels}
if [ ! -x .venv-lock/bin/pip-compile ]; then
    echo "lock: creating .venv-lock with pip-tools" >&2
    "$PYTHON" -m venv .venv-lock
    .venv-lock/bin/python -m pip install -q --disable-pip-version-check "pip-tools==7.6.2"
fi
CUSTOM_COMPILE_COMMAND=./scripts/lock.sh .venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-index-url --no-emit-find-links --find-links "$TORCH_WHEELS" \
    --constraint scripts/lock/constraints.txt \
    --output-file requirements.lock "$@" pyproject.toml scripts/lock/install-tools.in
echo "lock: requirements.lock pins $(grep -cE '^[A-Za-z0-9]' requirements.lock) packages" >&2
