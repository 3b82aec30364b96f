"""Domain code never imports the UI toolkit: the console is a thin shell over the pipeline."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "emotui"
UI_PACKAGES = ("textual", "rich_pixels", "textual_image")
UI_FOLDER = PACKAGE / "tui"


def _domain_files() -> list[Path]:
    """Every module but the console's own package (and __main__, which only calls the CLI)."""
    return sorted(
        path for path in PACKAGE.rglob("*.py")
        if UI_FOLDER not in path.parents and path.name != "__main__.py"
    )


def test_domain_modules_have_no_ui_imports_in_their_source():
    offenders = []
    for path in _domain_files():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in UI_PACKAGES]
    names = {p.stem for p in _domain_files()}
    assert {"capture", "sources", "buffer", "opencv", "mjpeg", "images", "demo", "schema", "load", "write", "models",
            "pipeline", "rules", "hub", "sinks", "audit", "mqtt", "webhook", "snapshots", "tracker", "queues", "network",
            "storage", "cameras", "claims", "notify", "apprise_urls", "topics", "fleet", "preview", "mqtt_client",
            "discovery", "control_state"} <= names
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


def test_the_fleet_console_loads_no_vision_models_or_model_runtimes():
    """`emotui fleet` runs where there is no model and no camera: what its command loads (the CLI,
    the fleet and its console, the parser) brings in none of the analysis, nor the device's sinks."""
    code = (
        "import sys\n"
        "import emotui.cli, emotui.fleet, emotui.tui.fleet\n"
        "emotui.cli.build_parser().parse_args(['fleet', '--mqtt', 'localhost'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('ai_edge_litert', 'onnxruntime', 'deepface', 'tensorflow', 'torch') "
        "or m.startswith(('emotui.vision', 'emotui.pipeline', 'emotui.snapshots')) "
        "or m in ('emotui.alerts.mqtt', 'emotui.alerts.hub', 'emotui.alerts.preview')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
