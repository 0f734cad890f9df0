#!/usr/bin/env bash
# Build the offline bundle on a connected machine: dist/xunshi-offline-VERSION-PLATFORM.tar.gz with every locked
# wheel for the target, xunshi's wheel, the embedding model ready to use, install.sh and 安装说明.txt.
#   ./scripts/bundle.sh                                                   # this machine's kind (x86_64, Python 3.11)
#   ./scripts/bundle.sh --platform manylinux_2_28_aarch64 --python-version 3.11   # ARM servers
# It uses .venv (made by scripts/setup.sh when missing): the model is prepared with the locked libraries.
# BUNDLE_PYTHON runs it with another environment's Python instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BUNDLE_PYTHON:-}" ]; then
    [ -x .venv/bin/python ] || ./scripts/setup.sh
    BUNDLE_PYTHON=.venv/bin/python
fi
exec "$BUNDLE_PYTHON" scripts/bundle.py "$@"
