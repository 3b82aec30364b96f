"""Mutation testing figures per module, after `mutmut run` (`make mutation`). Prints JSON.

    .venv/bin/python benchmarks/mutation_report.py

For each mutated module ([tool.mutmut] only_mutate in pyproject.toml): mutants killed by the
unit tests, survived (a change no test noticed: look at it with `mutmut show NAME`), not covered
by any unit test, and timed out; and the surviving mutants' names.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    mutmut = Path(sys.executable).parent / "mutmut"
    listing = subprocess.run([str(mutmut), "results", "--all", "true"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout
    counts: dict[str, Counter] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if "__mutmut_" not in name:
            continue
        module = name.split(".x", 1)[0]  # mutmut names them module.x_function__mutmut_N, module.xǁClassǁ...
        counts[module][status] += 1
        if status == "survived":
            survivors[module].append(name)
    report = {
        module: {"killed": c["killed"], "survived": c["survived"], "no_tests": c["no tests"],
                 "timeout": c["timeout"], "survivors": survivors[module]}
        for module, c in sorted(counts.items())
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
