"""ruff (lint and format), mypy and the import contracts (lint-imports), as configured in
pyproject.toml, stay clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "therapy", "tests", "bench"],
        ["ruff", "format", "--check", "therapy", "tests", "bench"],
        ["mypy"],
        ["lint-imports"],
    ],
    ids=["ruff-check", "ruff-format", "mypy", "import-contracts"],
)
def test_clean(command: list[str]) -> None:
    # lint-imports has no `python -m` entry: run the script installed beside this python
    argv = [sys.executable, "-m", *command]
    if command == ["lint-imports"]:
        argv = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
