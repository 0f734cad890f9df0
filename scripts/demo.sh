#!/usr/bin/env bash
# The main job on the bundled sample: install, ingest examples/, then search, ask, draft and open the web chat.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export XUNSHI_HOME=${XUNSHI_HOME:-$PWD/.xunshi}
.venv/bin/xunshi ingest examples/
.venv/bin/xunshi docs list
.venv/bin/xunshi search "交叉巡察是怎么组织的" -k 3
.venv/bin/xunshi ask "区县之间互相派组去巡察怎么安排的？"
.venv/bin/xunshi draft "巡视整改"
echo "demo: the web chat is at http://127.0.0.1:${XUNSHI_PORT:-7860} (Ctrl-C stops it)" >&2
exec .venv/bin/xunshi serve --port "${XUNSHI_PORT:-7860}"
