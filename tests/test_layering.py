"""Architecture checks: import layering and no work at import time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    """``lint-imports`` (contracts in pyproject.toml): pipeline/serve -> models, models free of frameworks,
    layers inside models."""
    exe = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 4 kept, 0 broken." in proc.stdout


def test_importing_every_module_creates_nothing(tmp_path):
    """Importing the packages in an empty folder writes no file there (no engine, store or model at import)."""
    code = ("import importlib, pkgutil\n"
            "for pkg in ('models', 'pipeline', 'serve'):\n"
            "    p = importlib.import_module(pkg)\n"
            "    for m in pkgutil.walk_packages(p.__path__, pkg + '.'):\n"
            "        if not m.name.endswith('__main__'):\n"
            "            importlib.import_module(m.name)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
