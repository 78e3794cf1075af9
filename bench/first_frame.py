"""First frame of `therapy demo`: how long a facilitator waits before the session shows.

Wall time from spawning the process until its first frame that shows the marker text
"Icebreaker" on a pseudo-terminal of 120x36 (TERM=xterm-256color, COLUMNS/LINES and the
pty's window size set alike): therapy's check-in screen has it as a section title. Each
process runs with stdin, stdout and stderr on the pty's slave (Textual writes its frames
to sys.__stderr__, so all three must be the terminal); this script reads the master until
the marker has appeared and the Footer's keys too, then sends ctrl+q and kills the process
if it has not quit within a few seconds.

The baseline is a bare Textual app written to a temporary file and run with the same
interpreter: a two-line header Static, a Horizontal of two OptionList columns of five
options, a couple of Statics (one of them "Icebreaker") and a Footer. It imports only
textual. Baseline and therapy runs are interleaved (the order turned each round) so that
machine noise hits both alike.

Rows:
  - "therapy demo" (gated): a fresh data folder per run (THERAPY_DATA_DIR), so it builds
    the demo sessions first, as a user's `therapy demo` does, then opens the app;
  - "therapy facilitate" (info): `therapy facilitate CODE` on one check-in session that
    `therapy demo` built beforehand: the app's start alone, without building the demo;
  - the same three until the Footer's keys show as well (info): Textual fills the Footer
    in a later frame than the first one, in the bare app too.

Ratio = median(therapy demo) / median(bare app), to the marker. Goal: ratio <= 1.2.
Both sides run with bytecode cached (in a temporary PYTHONPYCACHEPREFIX, so the checkout
gets no __pycache__) after a warm-up, as on a user's machine after the first run.

Also prints what the app pays for at import: the slowest imports (cumulative, from
`python -X importtime -c "import therapy.tui.app"`), the total import time of the bare
app's textual imports, of therapy.tui.app, and of everything `therapy demo` imports before
its first frame, and the modules therapy imports that the bare app does not.
Usage: python bench/first_frame.py [--runs N] [--strict]
Reports only; exits 0 unless --strict is given and the goal is missed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import select
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import (
    COLUMNS,
    LINES,
    environment,
    median_imports,
    p90,
    parse_importtime,
    run,
    spawn,
    stop,
    therapy_command,
    total_ms,
)

GOAL = 1.2
MARKER = b"Icebreaker"
FOOTER = b"Quit"  # the Footer's ctrl+q key: Textual fills the Footer a frame or two later
FRAME_TIMEOUT = 30.0  # seconds to wait for the marker and the Footer before giving up
IMPORT_RUNS = 9
TOP_IMPORTS = 12

# The bare app: the same kind of widgets as therapy's phase screens, nothing else.
BARE_APP = '''\
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, OptionList, Static

CSS = """
#header { height: 2; dock: top; background: $panel; padding: 0 1; }
#body { height: 1fr; padding: 0 1; }
.columns { height: 1fr; }
.column { width: 1fr; height: 1fr; margin: 0 1 0 0; }
OptionList { height: 1fr; border: round $panel-lighten-2; }
.section-title { text-style: bold; color: $accent; margin: 1 0 0 0; }
"""


class Bare(App[None]):
    CSS = CSS
    BINDINGS = [Binding("f1", "help", "Help"), Binding("ctrl+q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Static(
            "Q3 lead handoff  Sales x Marketing\\n"
            "1 Check-in > 2 Vent > 3 Diagnose > 4 Vote > 5 Remedy > 6 Celebrate > 7 Close",
            id="header",
        )
        with Vertical(id="body"):
            yield Static("Icebreaker", classes="section-title")
            yield Static("What is one thing the other team did this quarter that helped you?")
            with Horizontal(classes="columns"):
                for side in ("Sales", "Marketing"):
                    with Vertical(classes="column"):
                        yield Static(side, classes="section-title")
                        yield OptionList(*(f"{side} card {n}: some text" for n in range(1, 6)))
            yield Static("4 participants joined - 9 complaints logged so far")
        yield Footer()


if __name__ == "__main__":
    Bare().run()
'''
BARE_IMPORTS = (
    "from textual.app import App; from textual.binding import Binding; "
    "from textual.containers import Horizontal, Vertical; "
    "from textual.widgets import Footer, OptionList, Static"
)
# What `therapy demo` imports before its first frame (the CLI, the demo, the app, the
# check-in screen that app.py imports only when it is first shown).
DEMO_IMPORTS = "import therapy.cli, therapy.demo, therapy.tui.app, therapy.tui.screens.checkin"


def first_frame(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Seconds from spawning ARGV on a fresh pty until MARKER shows on it, and until the
    Footer's keys (FOOTER) show too; the process is then asked to quit (ctrl+q), killed if
    it does not, and reaped."""
    screen = spawn(" ".join(argv), argv, env, cwd)
    seen = bytearray()
    shown: dict[bytes, float] = {}
    try:
        deadline = screen.started + FRAME_TIMEOUT
        while len(shown) < 2 and time.perf_counter() < deadline:
            ready, _, _ = select.select([screen.master], [], [], deadline - time.perf_counter())
            if not ready:
                break
            try:
                chunk = os.read(screen.master, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break  # the process closed the terminal before showing both
            now = time.perf_counter() - screen.started
            start = max(0, len(seen) - 16)
            seen += chunk
            for text in (MARKER, FOOTER):
                if text not in shown and seen.find(text, start) >= 0:
                    shown[text] = now
    finally:
        stop([screen])  # ctrl+q: quit as a user would
    if len(shown) < 2:
        tail = re.sub(rb"\x1b\[[0-9;?<>=$]*[A-Za-z~]", b" ", bytes(seen[-3000:]))
        missing = " and ".join(repr(t.decode()) for t in (MARKER, FOOTER) if t not in shown)
        raise SystemExit(
            f"{screen.name}: no {missing} within {FRAME_TIMEOUT:g} s "
            f"(exit {screen.process.returncode}); last output:\n{tail.decode(errors='replace')}"
        )
    return shown[MARKER], shown[FOOTER]


def trace_imports(
    codes: list[str], env: dict[str, str], cwd: Path
) -> list[list[tuple[int, int, str]]]:
    """For each of CODES, the median `python -X importtime -c CODE` trace; the runs of the
    different codes are interleaved, like the timed runs."""
    traces: list[list[list[tuple[int, int, str]]]] = [[] for _ in codes]
    for _ in range(IMPORT_RUNS):
        for code, runs in zip(codes, traces, strict=True):
            argv = [sys.executable, "-X", "importtime", "-c", code]
            runs.append(parse_importtime(run(argv, env, cwd)[1].stderr))
    return [median_imports(runs) for runs in traces]


def row(label: str, values: list[float], base: float, goal: str) -> str:
    med = statistics.median(values)
    return (
        f"{label:<22}{len(values):>4}{med * 1e3:>11.1f}{p90(values) * 1e3:>9.1f}"
        f"{med / base:>8.2f}{goal:>8}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12, help="timed runs of each command")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args()

    command, shown = therapy_command()
    scratch = Path(tempfile.mkdtemp(prefix="therapy-bench-frame-"))
    pycache, built = scratch / "pycache", scratch / "built"
    bare_file = scratch / "bare_app.py"
    bare_file.write_text(BARE_APP, encoding="utf-8")
    env = environment(pycache, terminal=True)
    fresh = itertools.count()

    def demo_env() -> dict[str, str]:
        return {**env, "THERAPY_DATA_DIR": str(scratch / f"demo-{next(fresh)}")}

    bare = [sys.executable, str(bare_file)]
    demo = [*command, "demo"]
    frame: dict[str, list[float]] = {"bare": [], "demo": [], "facilitate": []}
    footer: dict[str, list[float]] = {"bare": [], "demo": [], "facilitate": []}
    try:
        # The session for the facilitate row: what `therapy demo` builds, at check-in.
        built_env = {**env, "THERAPY_DATA_DIR": str(built)}
        first_frame(demo, built_env, scratch)
        listed = json.loads(run([*command, "list", "--json"], built_env, scratch)[1].stdout)
        code = next(s["code"] for s in listed if s["phase"] == "check-in")
        runs = {
            "bare": lambda: first_frame(bare, env, scratch),
            "demo": lambda: first_frame(demo, demo_env(), scratch),
            "facilitate": lambda: first_frame([*command, "facilitate", code], built_env, scratch),
        }
        names = list(runs)
        for _ in range(2):  # warm-up: page cache, bytecode in the pycache prefix
            for name in names:
                runs[name]()
        for round_ in range(args.runs):
            # Interleaved, the order turned each round so that none always goes first.
            for name in names[round_ % 3 :] + names[: round_ % 3]:
                shown_at, footer_at = runs[name]()
                frame[name].append(shown_at)
                footer[name].append(footer_at)

        bare_imports, app_imports, demo_imports = trace_imports(
            [BARE_IMPORTS, "import therapy.tui.app", DEMO_IMPORTS], env, scratch
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    base = statistics.median(frame["bare"])
    ratio = statistics.median(frame["demo"]) / base
    print(
        f"first_frame: `{shown} demo` vs a bare Textual app, until {MARKER.decode()!r} shows "
        f"on a {COLUMNS}x{LINES} pty, interleaved, {args.runs} runs each"
    )
    print(f"{'command':<22}{'n':>4}{'median ms':>11}{'p90 ms':>9}{'ratio':>8}{'goal':>8}")
    print(row("bare Textual app", frame["bare"], base, ""))
    print(row("therapy demo", frame["demo"], base, f"<= {GOAL:g}"))
    print(row("therapy facilitate", frame["facilitate"], base, "info"))
    gap = statistics.median(frame["demo"]) - statistics.median(frame["facilitate"])
    print(f"demo - facilitate (building the demo sessions): {gap * 1e3:+.1f} ms in the medians")
    footer_base = statistics.median(footer["bare"])
    print(f"\nuntil the Footer's keys ({FOOTER.decode()!r}) show too, info:")
    print(row("bare Textual app", footer["bare"], footer_base, ""))
    print(row("therapy demo", footer["demo"], footer_base, "info"))
    print(row("therapy facilitate", footer["facilitate"], footer_base, "info"))
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print(
            "note: PYTHONDONTWRITEBYTECODE is set in this environment; both sides run with a "
            "temporary PYTHONPYCACHEPREFIX instead, as a user's install would have .pyc"
        )

    print(
        f"\nimports, median of {IMPORT_RUNS} runs of python -X importtime -c ... "
        "(top-level cumulative):"
    )
    print(f"{total_ms(bare_imports):>9.1f} ms  the bare app's textual imports")
    print(f"{total_ms(app_imports):>9.1f} ms  import therapy.tui.app")
    print(f"{total_ms(demo_imports):>9.1f} ms  {DEMO_IMPORTS}")
    print(f"\ntop {TOP_IMPORTS} imports of `import therapy.tui.app` by cumulative time:")
    print(f"{'cumul ms':>9}{'self ms':>9}  module")
    for own, cumulative, name in sorted(app_imports, key=lambda r: -r[1])[:TOP_IMPORTS]:
        print(f"{cumulative / 1e3:>9.1f}{own / 1e3:>9.1f}  {name.strip()}")
    bare_modules = {name.strip() for _, _, name in bare_imports}
    extra = sorted(
        (r for r in demo_imports if r[2].strip() not in bare_modules), key=lambda r: -r[0]
    )
    print(
        f"modules `therapy demo` imports that the bare app does not: {len(extra)}, "
        f"{sum(own for own, _, _ in extra) / 1e3:.1f} ms self time; slowest: "
        + ", ".join(f"{name.strip()} {own / 1e3:.1f}" for own, _, name in extra[:8])
    )

    verdict = ratio <= GOAL
    print("PASS" if verdict else "MISS")
    return 1 if args.strict and not verdict else 0


if __name__ == "__main__":
    sys.exit(main())
