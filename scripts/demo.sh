#!/usr/bin/env bash
# The main job on the bundled sample: install, ingest examples/, then search, ask and draft.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export XUNSHI_HOME=${XUNSHI_HOME:-$PWD/.xunshi}
.venv/bin/xunshi ingest examples/
.venv/bin/xunshi docs list
.venv/bin/xunshi search "交叉巡察是怎么组织的" -k 3
.venv/bin/xunshi ask "区县之间互相派组去巡察怎么安排的？"
.venv/bin/xunshi draft "巡视整改"
