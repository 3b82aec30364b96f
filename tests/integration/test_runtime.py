"""The model runtimes' output on stderr: LiteRT's banner is kept out of it, nothing else is.

Each case runs in a fresh interpreter process, since LiteRT prints its banner once a process."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.usefixtures("model_store")


def _stderr_of(code: str, *args: str) -> str:
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_creating_tflite_interpreters_prints_nothing(model_store):
    code = "import sys\nfrom emotui.vision.runtime import TFLiteRunner\nfor path in sys.argv[1:]: TFLiteRunner(path)"
    paths = [str(model_store.verified_path(name)) for name in ("blazeface", "mini-xception")]
    assert _stderr_of(code, *paths) == ""


def test_what_else_reaches_stderr_meanwhile_is_passed_on_in_order():
    code = (
        "import os, sys\n"
        "from emotui.vision.runtime import LITERT_BANNER, _without_litert_banner\n"
        "print('before', file=sys.stderr)\n"
        "with _without_litert_banner():\n"
        "    os.write(2, b'ERROR: from native code\\n' + LITERT_BANNER + b'\\n')\n"
        "    print('a Python warning', file=sys.stderr)\n"
        "print('after', file=sys.stderr)\n"
    )
    assert _stderr_of(code) == "before\nERROR: from native code\na Python warning\nafter\n"
