"""Layers point one way: ingest ← vectorstore ← assistant. Importing every module of a lower layer
loads nothing of a higher one."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("package, above", [("ingest", ("vectorstore", "assistant")), ("vectorstore", ("assistant",))])
def test_a_layer_imports_nothing_above_it(package, above):
    modules = sorted(f"{package}.{p.stem}" for p in (ROOT / package).glob("*.py") if p.stem != "__init__")
    modules += sorted(f"{package}.{p.name}" for p in (ROOT / package).iterdir()
                      if p.is_dir() and (p / "__init__.py").exists())
    assert len(modules) > 5
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({list(above)!r})))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"{package} imports {result.stdout.strip()}"
