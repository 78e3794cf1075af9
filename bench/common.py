"""What the scripts in bench/ share: percentiles, the `therapy` command and the environment
its child processes run in, `python -X importtime` traces, and apps run on a pseudo-terminal.

Every script runs as `python bench/NAME.py`, so this folder is sys.path[0] and `import common`
finds this module from any working directory. Importing it puts the checkout's root first on
sys.path, so that the `therapy` imports that follow it read the package from this checkout,
installed or not. Standard library only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLUMNS, LINES = 120, 36  # every pty's window size, and COLUMNS/LINES in its environment
QUIT_TIMEOUT = 3.0  # seconds to wait for ctrl+q to end an app before killing it
# Escape sequences Textual writes: CSI (colours, cursor moves, modes), OSC, and the rest.
ANSI = re.compile(rb"\x1b\[[0-9;:?<>=!$ ]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def p90(values: list[float]) -> float:
    return percentile(values, 0.9)


def therapy_command() -> tuple[list[str], str]:
    """The console script installed beside this interpreter, else python -m therapy.cli."""
    folder = Path(sys.executable).parent
    for name in ("therapy", "therapy.exe"):
        script = folder / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)], str(script)
    return [sys.executable, "-m", "therapy.cli"], f"{Path(sys.executable).name} -m therapy.cli"


def environment(
    pycache: Path | None, *, terminal: bool = False, size: tuple[int, int] = (COLUMNS, LINES)
) -> dict[str, str]:
    """The caller's environment for a child process, minus therapy's variables. With
    PYCACHE, bytecode is written to and read from that folder (as after any first run of an
    installed package), without writing __pycache__ folders into the checkout; without it,
    no bytecode is written, so the project's modules are compiled from source on every run.
    With TERMINAL, also minus Textual's variables and those that change what an app draws
    (NO_COLOR, TMUX, COLORTERM), on an xterm-256color of SIZE (columns, lines)."""
    prefixes = ("THERAPY_", "TEXTUAL") if terminal else ("THERAPY_",)
    dropped: tuple[str, ...] = (
        "PYTHONPROFILEIMPORTTIME",
        "PYTHONPYCACHEPREFIX",
        "PYTHONDONTWRITEBYTECODE",
    )
    if terminal:
        dropped += ("NO_COLOR", "TMUX", "COLORTERM")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(prefixes) and name not in dropped
    }
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if terminal:
        env["TERM"] = "xterm-256color"
        env["COLUMNS"], env["LINES"] = str(size[0]), str(size[1])
    # Lets `python -m therapy.cli` find the package from a checkout that is not installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run(
    argv: list[str], env: dict[str, str], cwd: Path = ROOT
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Seconds ARGV took, and what it printed; exits the script if ARGV failed."""
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done


def parse_importtime(stderr: str) -> list[tuple[int, int, str]]:
    """(self us, cumulative us, indented name) for each `import time:` line."""
    rows = []
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (.*)$", line)
        if match:
            rows.append((int(match[1]), int(match[2]), match[3]))
    return rows


def median_imports(traces: list[list[tuple[int, int, str]]]) -> list[tuple[int, int, str]]:
    """Per module, the median self and cumulative time over several runs (order of the first)."""
    by_name: dict[str, list[tuple[int, int]]] = {}
    for trace in traces:
        for own, cumulative, name in trace:
            by_name.setdefault(name, []).append((own, cumulative))
    return [
        (
            int(statistics.median(o for o, _ in by_name[name])),
            int(statistics.median(c for _, c in by_name[name])),
            name,
        )
        for _, _, name in traces[0]
    ]


def total_ms(imports: list[tuple[int, int, str]]) -> float:
    """Time of the top-level imports (their cumulative time includes the nested ones)."""
    return sum(cumulative for _, cumulative, name in imports if not name.startswith(" ")) / 1e3


@dataclass
class Screen:
    """One app on its own pty; `fresh` holds what it wrote since the last mark()."""

    name: str
    process: subprocess.Popen[bytes]
    master: int
    started: float  # time.perf_counter() just before the process was spawned
    fresh: bytearray = field(default_factory=bytearray)
    closed: bool = False

    def mark(self) -> None:
        self.fresh.clear()

    def shows(self, text: bytes) -> bool:
        return text in ANSI.sub(b"", bytes(self.fresh))

    def tail(self) -> str:
        return ANSI.sub(b" ", bytes(self.fresh[-3000:])).decode(errors="replace")


def spawn(
    name: str,
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    size: tuple[int, int] = (COLUMNS, LINES),
) -> Screen:
    """ARGV on a fresh pty of SIZE (columns, lines), with stdin, stdout and stderr all on its
    slave (Textual writes its frames to sys.__stderr__), in a session of its own."""
    master, slave = pty.openpty()
    columns, lines = size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    started = time.perf_counter()
    process = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    return Screen(name, process, master, started)


def pump(screens: list[Screen], until: float) -> list[tuple[Screen, float]]:
    """Read whatever the masters have, waiting until UNTIL (monotonic) at most for some;
    the screens that got bytes, each with the time they were read."""
    live = [s for s in screens if not s.closed]
    left = until - time.monotonic()
    if not live:
        time.sleep(max(0.0, left))
        return []
    ready, _, _ = select.select([s.master for s in live], [], [], max(0.0, left))
    now = time.monotonic()
    got = []
    for screen in live:
        if screen.master not in ready:
            continue
        try:
            chunk = os.read(screen.master, 65536)
        except OSError:  # EIO: the app closed its terminal
            chunk = b""
        if not chunk:
            screen.closed = True
            continue
        screen.fresh += chunk
        got.append((screen, now))
    return got


def stop(screens: list[Screen]) -> None:
    """ctrl+q to each app, reading on until they have quit (so that none blocks on a full
    pty buffer while it writes its last frames); kill what has not; reap all."""
    for screen in screens:
        if screen.process.poll() is None:
            with contextlib.suppress(OSError):
                os.write(screen.master, b"\x11")
    until = time.monotonic() + QUIT_TIMEOUT
    while any(s.process.poll() is None for s in screens) and time.monotonic() < until:
        pump(screens, min(until, time.monotonic() + 0.05))
    for screen in screens:
        if screen.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(screen.process.pid, signal.SIGKILL)
        screen.process.wait()
        with contextlib.suppress(OSError):
            os.close(screen.master)


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks (os.sysconf SC_CLK_TCK)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def machine_ticks() -> int:
    """Busy time of all cores (everything but idle and iowait), in clock ticks."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def table(title: str, rows: list[tuple[str, object, str]]) -> None:
    """A campaign's counts: name, value and goal, one row each."""
    width = max(len(name) for name, _, _ in rows)
    print(f"\n{title:<{width}}  {'count':>7}  goal")
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value!s:>7}  {goal}")


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a SIGTERM cleans up like Ctrl-C: children killed, folder removed


def run_campaign(main: Callable[[], int]) -> None:
    """A campaign's exit: its own code, or 130 and a failed RESULT line when interrupted."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("RESULT: FAILED (interrupted)", file=sys.stderr)
        sys.exit(130)
