"""DESIGN.md §3: imports flow one way. import-linter checks the contracts in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is part of the test extra"
    result = subprocess.run([lint, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_print_outside_the_command_line():
    offenders = []
    for path in (REPO / "src/driftline").rglob("*.py"):
        if path.name in ("cli.py", "demo.py"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("print("):
                offenders.append(f"{path.relative_to(REPO)}:{number}")
    assert not offenders, "use logging, not print: " + ", ".join(offenders)


def test_reserved_feature_names_agree_between_drift_and_alerting():
    from driftline import drift
    from driftline.alerting import sample

    assert (drift.PREDICTION_STREAM, drift.MULTIVARIATE) == (sample.PREDICTION_STREAM, sample.MULTIVARIATE)
