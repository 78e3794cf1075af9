"""Start-up cost of `therapy add`, the command people run from the shell and from scripts.

Wall time of `therapy --data-dir D add CODE --side Sales TEXT` (the console script next to
sys.executable, else `python -m therapy.cli`) against `python -c pass` on the same
interpreter, interleaved run by run so that machine noise hits both alike.

Ratio = median(add) / median(python -c pass). Goal: ratio <= 3. Both run with bytecode
cached (in a temporary PYTHONPYCACHEPREFIX, so the checkout gets no __pycache__), as on a
user's machine after the first run. An "info" row times add again with no bytecode written
(PYTHONDONTWRITEBYTECODE=1), where the project's modules are compiled on every run.

Also prints the ten slowest imports (cumulative, from `python -X importtime`) of the add
command, to show what to cut, and whether textual or jinja2 was imported: cli.py promises
that they are imported only by the commands that need them, never by add.
Usage: python bench/add_startup.py [--runs N] [--strict]
Reports only; exits 0 unless --strict is given and the goal is missed (or add imports
textual or jinja2).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from common import (
    environment,
    median_imports,
    p90,
    parse_importtime,
    run,
    therapy_command,
    total_ms,
)

GOAL = 3.0
FORBIDDEN = ("textual", "jinja2")
IMPORT_RUNS = 5
TEXT = "They don't give me what I need to succeed!"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs of each command")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args()

    command, shown = therapy_command()
    scratch = Path(tempfile.mkdtemp(prefix="therapy-bench-add-"))
    data, pycache = scratch / "data", scratch / "pycache"
    env, env_nopyc = environment(pycache), environment(None)
    try:
        _, created = run([*command, "--data-dir", str(data), "new", "Start-up bench"], env)
        code = created.stdout.strip()
        add = [*command, "--data-dir", str(data), "add", code, "--side", "Sales", TEXT]
        baseline = [sys.executable, "-c", "pass"]

        for _ in range(2):  # warm-up: page cache, bytecode in the pycache prefix
            run(baseline, env)
            run(add, env)
        # The stack's own floor: what the libraries `add` must import cost before any of ours.
        floor = [sys.executable, "-c", "import click, tinydb, dataclasses, json, fcntl"]
        times: dict[str, list[float]] = {"pass": [], "add": [], "nopyc": [], "floor": []}
        for _ in range(args.runs):
            times["pass"].append(run(baseline, env)[0])
            times["floor"].append(run(floor, env)[0])
            times["add"].append(run(add, env)[0])
            times["nopyc"].append(run(add, env_nopyc)[0])

        traced = [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "therapy.cli",
            "--data-dir",
            str(data),
            "add",
            code,
            "--side",
            "Sales",
            TEXT,
        ]
        traces = [parse_importtime(run(traced, env)[1].stderr) for _ in range(IMPORT_RUNS)]
        imports = median_imports(traces)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    med_pass, med_add = statistics.median(times["pass"]), statistics.median(times["add"])
    ratio = med_add / med_pass
    print(
        f"add_startup: `{shown} add` vs `{Path(sys.executable).name} -c pass`, "
        f"interleaved, {args.runs} runs each"
    )
    print(f"{'command':<22}{'n':>4}{'median ms':>11}{'p90 ms':>9}{'ratio':>8}{'goal':>8}")
    print(
        f"{'python -c pass':<22}{len(times['pass']):>4}{med_pass * 1e3:>11.1f}"
        f"{p90(times['pass']) * 1e3:>9.1f}{'1.00':>8}{'':>8}"
    )
    print(
        f"{'therapy add':<22}{len(times['add']):>4}{med_add * 1e3:>11.1f}"
        f"{p90(times['add']) * 1e3:>9.1f}{ratio:>8.2f}{f'<= {GOAL:g}':>8}"
    )
    med_floor = statistics.median(times["floor"])
    print(
        f"{'import click, tinydb':<22}{len(times['floor']):>4}{med_floor * 1e3:>11.1f}"
        f"{p90(times['floor']) * 1e3:>9.1f}{med_floor / med_pass:>8.2f}{'floor':>8}"
    )
    med_nopyc = statistics.median(times["nopyc"])
    print(
        f"{'therapy add, no .pyc':<22}{len(times['nopyc']):>4}{med_nopyc * 1e3:>11.1f}"
        f"{p90(times['nopyc']) * 1e3:>9.1f}{med_nopyc / med_pass:>8.2f}{'info':>8}"
    )
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print(
            "note: PYTHONDONTWRITEBYTECODE is set in this environment; the gated row uses "
            "a temporary PYTHONPYCACHEPREFIX instead, as a user's install would have .pyc"
        )

    print(
        f"\ntop 10 imports of `add` by cumulative time (python -X importtime -m therapy.cli, "
        f"median of {IMPORT_RUNS} runs; {len(imports)} modules, {total_ms(imports):.1f} ms in all; "
        "runpy and importlib.util come from -m, not from the console script):"
    )
    print(f"{'cumul ms':>9}{'self ms':>9}  module")
    for own, cumulative, name in sorted(imports, key=lambda row: -row[1])[:10]:
        print(f"{cumulative / 1e3:>9.1f}{own / 1e3:>9.1f}  {name.strip()}")
    therapy_own = sorted(
        (row for row in imports if row[2].strip().startswith("therapy")), key=lambda r: -r[0]
    )
    print(
        "therapy modules, self ms: "
        + ", ".join(f"{name.strip()} {own / 1e3:.1f}" for own, _, name in therapy_own)
    )

    loaded = {name.strip().split(".")[0] for _, _, name in imports}
    bad = [name for name in FORBIDDEN if name in loaded]
    for name in FORBIDDEN:
        print(f"{name} imported by add: {'YES (must not be)' if name in bad else 'no'}")

    verdict = ratio <= GOAL and not bad
    print("PASS" if verdict else "MISS")
    return 1 if args.strict and not verdict else 0


if __name__ == "__main__":
    sys.exit(main())
