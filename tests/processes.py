"""Running the command line as a whole process in tests, and telling which libraries it imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
# Runs the command line and says on stderr, last, which of the watched modules the process imported.
_TRACED = (
    "import atexit, json, runpy, sys\n"
    "atexit.register(lambda: print('IMPORTED ' + json.dumps(sorted(m for m in {modules!r} if m in sys.modules)),"
    " file=sys.stderr))\n"
    "sys.argv = ['xunshi'] + {args!r}\n"
    "runpy.run_module('assistant', run_name='__main__')\n"
)


def run_watching_imports(env: dict, modules: tuple[str, ...], *args: str,
                         timeout: float) -> tuple[subprocess.CompletedProcess, list[str]]:
    """``xunshi ARGS`` as a process: (result, which of ``modules`` it imported)."""
    code = _TRACED.format(modules=modules, args=list(args))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, **env}, timeout=timeout)
    marks = [line for line in result.stderr.splitlines() if line.startswith("IMPORTED ")]
    assert marks, result.stderr
    return result, json.loads(marks[-1][len("IMPORTED "):])
