#!/usr/bin/env bash
# The whole test suite, fast and slow tiers: install, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python -m pytest -m "slow or not slow" "$@"
