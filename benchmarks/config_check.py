"""Config check benchmark: how long `load_config` and `emotui config check` take on a file of
many alert rules, all valid and all refused (one issue per rule, each located on its line), and
`config check` of a one-rule file (the interpreter's start and the imports). Prints JSON.

    .venv/bin/python benchmarks/config_check.py [--rules 3000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emotui.config import ConfigError, load_config  # noqa: E402


def rules_file(folder: Path, rules: int, threshold: float) -> Path:
    """A config of `rules` emotion rules at `threshold` (above 1: every rule refused)."""
    path = folder / f"rules_{rules}_{threshold:g}.toml"
    path.write_text("".join(f'[[alerts.rules]]\nname = "rule {n}"\nemotions = ["fear"]\nthreshold = {threshold}\n\n'
                            for n in range(rules)), encoding="utf-8")
    return path


def load_seconds(path: Path) -> tuple[float, int]:
    """Seconds to load (or refuse) the file in this process, and the issues found."""
    start = time.perf_counter()
    try:
        load_config(path)
        issues = 0
    except ConfigError as error:
        issues = len(error.issues)
    return time.perf_counter() - start, issues


def check_seconds(path: Path) -> tuple[float, int]:
    """Seconds of `emotui config check FILE` as a user runs it (interpreter start included), its exit code."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "emotui", "config", "check", str(path)], capture_output=True,
                            cwd=REPO)
    return time.perf_counter() - start, result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each measurement (the median is shown)")
    args = parser.parse_args()
    report: dict = {"rules": args.rules}
    with tempfile.TemporaryDirectory(prefix="emotui-config-bench-") as tmp:
        one_rule = rules_file(Path(tmp), 1, 0.6)  # what `config check` costs before the file: Python and imports
        report["config_check_of_one_rule_s"] = round(statistics.median(
            check_seconds(one_rule)[0] for _ in range(args.repeat)), 3)
        for case, threshold in (("valid", 0.6), ("every_rule_refused", 2.0)):
            path = rules_file(Path(tmp), args.rules, threshold)
            loads = [load_seconds(path) for _ in range(args.repeat)]
            checks = [check_seconds(path) for _ in range(args.repeat)]
            report[case] = {
                "file_kb": round(path.stat().st_size / 1024, 1),
                "issues": loads[0][1],
                "load_config_s": round(statistics.median(seconds for seconds, _ in loads), 3),
                "config_check_s": round(statistics.median(seconds for seconds, _ in checks), 3),
                "config_check_exit": checks[0][1],
            }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
