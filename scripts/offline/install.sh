#!/usr/bin/env bash
# Install xunshi from this offline bundle, with no network: a virtual environment under PREFIX made from the
# bundle's wheels only (pip install --no-index, every file checked against its hash), the embedding model under
# the data directory, a launcher PREFIX/bin/xunshi, then a self-check on the bundled sample.
#
#   ./install.sh [--prefix DIR] [--home DIR] [--python PATH] [--no-self-check]
#
# PREFIX defaults to ~/xunshi; the data directory to $XUNSHI_HOME, else ~/.xunshi. Running it again, or
# installing a newer bundle, keeps the data directory's documents and index. Exit 2: this machine or this
# bundle is not fit (wrong Python, platform or glibc; a file missing or damaged); nothing was changed.
set -euo pipefail

BUNDLE=$(cd "$(dirname "$0")" && pwd)
PREFIX=$HOME/xunshi
DATA=${XUNSHI_HOME:-$HOME/.xunshi}
PYTHON=
SELF_CHECK=1

refuse() {
    echo "install: $*" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=${2:?--prefix needs a folder}; shift 2 ;;
        --home) DATA=${2:?--home needs a folder}; shift 2 ;;
        --python) PYTHON=${2:?--python needs the path of python3.X}; shift 2 ;;
        --no-self-check) SELF_CHECK=0; shift ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) refuse "unknown option $1 (try --help)" ;;
    esac
done

[ -f "$BUNDLE/manifest.json" ] || refuse "$BUNDLE/manifest.json is missing: extract the whole bundle (tar xzf xunshi-offline-….tar.gz) and run install.sh from it"
field() {  # a top-level string field of a manifest.json (scripts/bundle.py writes one field a line)
    sed -n "s/^  \"$2\": \"\([^\"]*\)\",\{0,1\}$/\1/p" "$1" | head -n 1
}
quoted() {  # $1 in single quotes, for the launcher
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}
WANT=$(field "$BUNDLE/manifest.json" python)
VERSION=$(field "$BUNDLE/manifest.json" xunshi)
[ -n "$WANT" ] && [ -n "$VERSION" ] || refuse "$BUNDLE/manifest.json is damaged: copy the bundle again"

# The Python the bundle's wheels were chosen for: --python, else python3.X on PATH, else python3.
if [ -z "$PYTHON" ]; then
    for candidate in "python$WANT" python3; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys' >/dev/null 2>&1; then
            PYTHON=$(command -v "$candidate")
            break
        fi
    done
    [ -n "$PYTHON" ] || refuse "this bundle needs Python $WANT and no python$WANT or python3 runs here: install Python $WANT, or pass --python /path/to/python$WANT"
fi
HAVE=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
    || refuse "$PYTHON does not run; pass --python /path/to/python$WANT"
if [ "$HAVE" != "$WANT" ]; then
    refuse "this bundle is for Python $WANT (its wheels are built for CPython $WANT) but $PYTHON is Python $HAVE. Install Python $WANT and pass --python /path/to/python$WANT, or build a bundle for this machine on a connected one: ./scripts/bundle.sh --python-version $HAVE"
fi
# Platform, glibc, the exact Python release, and every file of the bundle against its hash.
"$PYTHON" -I "$BUNDLE/installer/install_steps.py" check --bundle "$BUNDLE"

PREFIX=$(mkdir -p "$PREFIX" && cd "$PREFIX" && pwd)
DATA=$(mkdir -p "$DATA" && cd "$DATA" && pwd)
MODELS=${XUNSHI_MODELS_DIR:-$DATA/models}
VENV=$PREFIX/venv
if [ -f "$PREFIX/bundle-manifest.json" ]; then
    echo "install: upgrading $PREFIX (xunshi $(field "$PREFIX/bundle-manifest.json" xunshi), bundle of $(field "$PREFIX/bundle-manifest.json" built)) to xunshi $VERSION; the data in $DATA stays" >&2
else
    echo "install: xunshi $VERSION into $PREFIX; data in $DATA" >&2
fi

# A virtual environment of this Python (made again if it is of another one), with the bundle's own pip.
if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" != "$WANT" ]; then
    echo "install: $VENV is of another Python; making it again" >&2
    rm -rf "$VENV"
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv --without-pip "$VENV"
# pip reads no configuration file and no PIP_* variable here: nothing but the bundle's wheels.
export PIP_CONFIG_FILE=/dev/null
PIP=("$VENV/bin/python" -m pip --isolated --disable-pip-version-check --no-input)
FROM_BUNDLE=(--no-index --find-links "$BUNDLE/wheels" --require-hashes)
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    PIP_WHEEL=$(ls "$BUNDLE"/wheels/pip-*.whl)
    grep '^pip==' "$BUNDLE/requirements.txt" > "$VENV/bundle-pip.txt"
    "$VENV/bin/python" "$PIP_WHEEL/pip" install --isolated --disable-pip-version-check -q "${FROM_BUNDLE[@]}" \
        -r "$VENV/bundle-pip.txt"
fi
echo "install: installing $(grep -c '^[a-z]' "$BUNDLE/requirements.txt") wheels (a few minutes)" >&2
"${PIP[@]}" install -q "${FROM_BUNDLE[@]}" -r "$BUNDLE/requirements.txt"
"${PIP[@]}" install -q "${FROM_BUNDLE[@]}" --no-deps --force-reinstall -r "$BUNDLE/xunshi.txt"
"${PIP[@]}" check >&2

# The model under the data directory (kept when it is the same; reindex advice when it is not).
"$VENV/bin/python" -I "$BUNDLE/installer/install_steps.py" models --bundle "$BUNDLE" --models "$MODELS" --home "$DATA"

mkdir -p "$PREFIX/bin"
{
    echo '#!/bin/sh'
    echo "# xunshi $VERSION, installed from an offline bundle by install.sh. The data directory is \$XUNSHI_HOME when set."
    echo "XUNSHI_HOME=\${XUNSHI_HOME:-$(quoted "$DATA")}"
    echo 'export XUNSHI_HOME'
    if [ -n "${XUNSHI_MODELS_DIR:-}" ]; then
        echo "XUNSHI_MODELS_DIR=\${XUNSHI_MODELS_DIR:-$(quoted "$MODELS")}"
        echo 'export XUNSHI_MODELS_DIR'
    fi
    echo "exec $(quoted "$VENV/bin/xunshi") \"\$@\""
} > "$PREFIX/bin/xunshi.new"
chmod 755 "$PREFIX/bin/xunshi.new"
mv -f "$PREFIX/bin/xunshi.new" "$PREFIX/bin/xunshi"
cp "$BUNDLE/manifest.json" "$PREFIX/bundle-manifest.json"
echo "install: installed; the command is $PREFIX/bin/xunshi (add $PREFIX/bin to PATH)" >&2

if [ "$SELF_CHECK" = 1 ]; then
    "$VENV/bin/python" -I "$BUNDLE/installer/install_steps.py" self-check --bundle "$BUNDLE" \
        --launcher "$PREFIX/bin/xunshi" --models "$MODELS"
fi
