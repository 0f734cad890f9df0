#!/usr/bin/env bash
# The whole test suite, fast and slow tiers: install, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The page tests drive Debian's Chromium (never a downloaded browser) and need a CJK font to render Chinese.
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test: installing chromium and fonts-noto-cjk from Debian" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >&2
    else
        echo "test: the page tests need Debian's chromium and fonts-noto-cjk: sudo apt-get install chromium fonts-noto-cjk" >&2
    fi
fi
# The Word-file test converts a .docx to PDF, and the .doc tests convert a .doc, with LibreOffice: Debian's writer
# without its GUI or recommends is enough (51 packages, ~86 MB to download, ~264 MB on disk, ~1.5 min).
if ! command -v soffice >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test: installing libreoffice-writer-nogui from Debian" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-writer-nogui >&2
    else
        echo "test: the Word-file and .doc tests need LibreOffice: sudo apt-get install --no-install-recommends libreoffice-writer-nogui" >&2
    fi
fi
# Two workers (pytest-xdist), each taking a whole test file at a time, so that a file's servers, browser and bundle
# are set up once; XUNSHI_TEST_WORKERS=0 runs everything in this one process.
exec .venv/bin/python -m pytest -m "slow or not slow" -n "${XUNSHI_TEST_WORKERS:-2}" --dist loadfile "$@"
