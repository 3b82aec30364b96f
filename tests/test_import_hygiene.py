"""Domain code never imports the UI toolkit: the console is a thin shell over the pipeline."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "emotui"
UI_PACKAGES = ("textual", "rich_pixels")
DOMAIN = ["capture", "config", "models", "vision", "pipeline", "headless", "evaluation", "cli"]


def _domain_files() -> list[Path]:
    files = []
    for name in DOMAIN:
        path = PACKAGE / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return files


def test_domain_modules_have_no_ui_imports_in_their_source():
    offenders = []
    for path in _domain_files():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in UI_PACKAGES]
    assert len(_domain_files()) >= 12
    assert offenders == []


def test_importing_every_domain_module_loads_no_ui_package():
    modules = [
        "emotui." + str(p.relative_to(PACKAGE).with_suffix("")).replace("/", ".").removesuffix(".__init__")
        for p in _domain_files()
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {UI_PACKAGES!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
