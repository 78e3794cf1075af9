"""prompts/ and templates/ ship inside the wheel: an installed therapy works from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_prompts_and_templates_and_works_elsewhere(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    wheel = next(wheels.glob("therapy-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ROOT.glob("prompts/*.toml"):
        assert f"therapy/prompts/{shipped.name}" in names
    assert "therapy/templates/plan.md.j2" in names

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "THERAPY_DATA_DIR": str(tmp_path / "d")}

    def therapy(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "therapy.cli", *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    where = subprocess.run(
        [sys.executable, "-c", "import therapy; print(therapy.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert where.startswith(str(target))  # the wheel's copy, not the checkout
    code = therapy("new", "From the wheel").strip()
    therapy("add", code, "--side", "Sales", "Leads are not ready to buy")
    plan = therapy("export", code)
    assert "### Misaligned expectations" in plan and "Leads are not ready to buy" in plan
