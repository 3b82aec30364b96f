"""stderr has one writer: lines said from several threads at once come out whole, never run together."""

from __future__ import annotations

import subprocess
import sys

SPEAKERS, LINES = 8, 3000
SPEAK = f"""
import threading
from emotui.cli import say

def speak(number):
    for line in range({LINES}):
        say(f"thread {{number}} line {{line}} " + "x" * 50)

threads = [threading.Thread(target=speak, args=(number,)) for number in range({SPEAKERS})]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_lines_said_from_many_threads_at_once_come_out_whole():
    said = subprocess.run([sys.executable, "-c", SPEAK], capture_output=True, text=True, timeout=120)
    lines = said.stderr.splitlines()
    assert said.returncode == 0 and len(lines) == SPEAKERS * LINES
    assert [line for line in lines if not (line.startswith("emotui: thread ") and line.count("emotui:") == 1)] == []
    assert sorted(lines) == sorted(f"emotui: thread {number} line {line} " + "x" * 50
                                   for number in range(SPEAKERS) for line in range(LINES))
