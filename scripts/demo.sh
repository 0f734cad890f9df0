#!/usr/bin/env bash
# The main job on the bundled sample: install, ingest examples/, then ask a sample question.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export XUNSHI_HOME=${XUNSHI_HOME:-$PWD/.xunshi}
.venv/bin/xunshi ingest examples/
.venv/bin/xunshi docs list
.venv/bin/xunshi search "交叉巡察是怎么组织的" -k 3
