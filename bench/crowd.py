"""Crowd: a facilitator and 40 participants, each on a terminal of their own; how soon every
screen shows a change, and what an idle participant costs.

Issue 8: "a facilitator and 40 participant apps on ptys, 20 changes, printing p95 and max until
every screen shows the change and the idle CPU per participant (goals: p95 <= 250 ms,
max <= 1 s, idle <= 1 % of a core)."

In a fresh temporary data folder this process builds a session in vent through the service
(sides Sales and Marketing), then starts the facilitator (`therapy --data-dir D facilitate
CODE`) and, once it shows, N participants (`therapy --data-dir D join CODE --name Pn --side
S`, sides alternating, P1 on Sales), each on a pty of its own of --size (TERM=xterm-256color,
COLUMNS/LINES and the window size alike; stdin, stdout and stderr on the slave). One thread
reads every master all the time (so no app ever blocks on a full pty) and keeps all the
bytes; the apps' screens are rebuilt from them with pyte, a terminal emulator, when the
bench asks (it parses about 1 MB/s, and a change makes every app write ~15 kB: too slow for
the timed path). The run starts once every screen says that all N participants are here.

A change: one call of Sessions.add_complaints, in this process, as a shell `therapy add`
would, with one card per side whose text is a marker (crowd-change-01, ...). Who sees it: a
participant sees the cards of their own side during vent (the others' only as a count), the
facilitator every card, so each of the N + 1 screens has exactly one marker card to draw
(the facilitator two). The clock starts just before add_complaints is called
(time.monotonic()) and stops, for each app, at the read from its pty master after which the
bytes it wrote since then, with ANSI escape sequences removed, hold the marker (one style
segment: Textual writes it in one piece). Untimed, the marker is then looked for on each
rebuilt screen (a screen where the bytes held it but the screen does not counts as "drawn,
then not on screen", info), the two cards are deleted again, and the bench waits until no
screen shows the marker and no app has written a byte for 0.3 s (an idle app writes
nothing: all are done drawing, so the next change queues behind none), then 0 to 0.1 s
more (random, so that the next change falls anywhere within the apps' 0.1 s poll). A screen
that has not shown the marker within --deadline seconds counts as never showing it, and as
--deadline in the percentiles.

Figures: per change, how long the write took and when the first, the median and the last
screen showed it; over every (app, change): p50 / p95 / max, for the facilitator, the
participants and all. Goals: p95 <= 250 ms and max <= 1 s over all, and no screen that
never showed a change. Info: CPU the apps spent per change (their card drawn and taken away
again, their idle cost taken off) and what it means on this machine's cores, the bench's own
CPU while it timed, and how busy other processes kept the machine (from /proc/stat less this
bench and its apps): on a shared machine, well above 0.1 core means the figures are not the
app's alone.

Idle: with nothing changing for --idle seconds, utime + stime of each app from /proc/PID/stat
before and after, as % of one core, and the bytes each wrote meanwhile. Goal: <= 1 % for
every participant (mean and max printed; the facilitator's is info).

The apps run with bytecode cached in a temporary PYTHONPYCACHEPREFIX (the facilitator starts
first and fills it, so the checkout gets no __pycache__). At the end, and on an error, Ctrl-C
or SIGTERM, every app is sent ctrl+q, killed if it has not quit within 3 s, and reaped; the
temporary folder is removed unless --keep is given.
Needs pyte (pip install pyte), which is not one of the project's dependencies.
Usage: python bench/crowd.py [--participants N] [--changes N] [--size COLSxLINES]
                             [--idle SECONDS] [--deadline SECONDS] [--quick] [--keep]
Prints figures and RESULT: ok / FAILED; exits 1 when a goal is missed, 2 without pyte.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import selectors
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# First: importing common puts the checkout on sys.path for the therapy imports below.
from common import (
    ANSI,
    Screen,
    cpu_ticks,
    environment,
    interrupted,
    machine_ticks,
    percentile,
    run_campaign,
    spawn,
    stop,
    therapy_command,
)

from therapy.service import Sessions
from therapy.store import Store

try:
    import pyte
except ImportError:  # not a dependency of the project; main() says how to get it
    pyte = None

SIDES = ("Sales", "Marketing")
GOAL_P95 = 0.250
GOAL_MAX = 1.0
GOAL_IDLE = 1.0  # % of one core, each participant
START_TIMEOUT = 300.0  # seconds for every app to be up and see every participant here
GONE_TIMEOUT = 10.0  # seconds for the deleted cards to leave every screen
QUIET = 0.3  # seconds without a byte from any app: they are done drawing
SETTLE = 2.0  # seconds of quiet before the first change and before the idle measurement
HZ = os.sysconf("SC_CLK_TCK")


class Terminal:
    """One app's pty as the bench sees it: the bytes it wrote, when it first wrote the
    marker being watched for, and its screen rebuilt from those bytes by pyte."""

    def __init__(self, screen: Screen, size: tuple[int, int]) -> None:
        self.screen = screen
        self.emulator = pyte.Screen(*size)
        self.stream = pyte.ByteStream(self.emulator)
        self.unfed = bytearray()  # read, not yet given to the emulator
        self.written = 0  # bytes, in all
        self.wrote_at = 0.0  # time.monotonic() of the last read that got some
        self.marker: bytes | None = None
        self.since = bytearray()  # written since the marker was set
        self.shown_at: float | None = None

    @property
    def name(self) -> str:
        return self.screen.name

    def got(self, chunk: bytes, at: float) -> None:
        self.unfed += chunk
        self.written += len(chunk)
        self.wrote_at = at
        if self.marker is not None and self.shown_at is None:
            self.since += chunk
            if self.marker in ANSI.sub(b"", bytes(self.since)):
                self.shown_at = at

    def watch(self, marker: bytes | None) -> None:
        self.marker, self.shown_at = marker, None
        self.since.clear()

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.emulator.display)


class Crowd:
    """Every app's pty read by one thread, each read timed as it returns; the screens rebuilt
    in the caller's thread (sync), so that the slow emulator never delays a read."""

    def __init__(self, terminals: list[Terminal]) -> None:
        self.terminals = terminals
        self.selector = selectors.DefaultSelector()
        for terminal in terminals:
            self.selector.register(terminal.screen.master, selectors.EVENT_READ, terminal)
        self.changed = threading.Condition()
        self.stopping = False
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._read, name="crowd-reader", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while not self.stopping:
                events = self.selector.select(0.1)
                at = time.monotonic()
                with self.changed:
                    for key, _ in events:
                        terminal: Terminal = key.data
                        try:
                            chunk = os.read(key.fd, 65536)
                        except OSError:  # EIO: the app closed its terminal
                            chunk = b""
                        if chunk:
                            terminal.got(chunk, at)
                        else:
                            self.selector.unregister(key.fd)
                            terminal.screen.closed = True
                    if events:
                        self.changed.notify_all()
        except BaseException as error:  # said by the next wait, in the main thread
            self.failure = error
            with self.changed:
                self.changed.notify_all()

    def close(self) -> None:
        self.stopping = True
        self.thread.join()
        self.selector.close()

    def watch(self, marker: bytes | None) -> None:
        with self.changed:
            for terminal in self.terminals:
                terminal.watch(marker)

    def wait_shown(self, deadline: float) -> dict[str, float | None]:
        """Wait until every screen wrote the marker, or DEADLINE; when each did (or None)."""
        with self.changed:
            self.changed.wait_for(
                lambda: (
                    self.failure is not None
                    or all(t.shown_at is not None or t.screen.closed for t in self.terminals)
                ),
                max(0.0, deadline - time.monotonic()),
            )
            self._check()
            return {t.name: t.shown_at for t in self.terminals}

    def sync(self) -> None:
        """Give each emulator what its app wrote since the last sync."""
        self._check()
        for terminal in self.terminals:
            with self.changed:
                unfed = bytes(terminal.unfed)
                terminal.unfed.clear()
            terminal.stream.feed(unfed)

    def wait_screens(self, wanted: Callable[[Terminal], bool], timeout: float) -> list[str]:
        """Sync until every screen is as WANTED, or TIMEOUT; the names of those that are not."""
        deadline = time.monotonic() + timeout
        while True:
            self.sync()
            missing = [t for t in self.terminals if not wanted(t)]
            if not missing or time.monotonic() > deadline:
                return [t.name for t in missing]
            for terminal in missing:
                if terminal.screen.process.poll() is not None:
                    raise SystemExit(ended(terminal))
            time.sleep(0.2)

    def wait_quiet(self, quiet: float, timeout: float) -> bool:
        """Wait until no app has written for QUIET seconds (an idle app writes nothing), or
        TIMEOUT; whether they went quiet."""
        deadline = time.monotonic() + timeout
        while True:
            with self.changed:
                last = max(t.wrote_at for t in self.terminals)
            now = time.monotonic()
            if now - last >= quiet:
                return True
            if now > deadline:
                return False
            time.sleep(min(quiet - (now - last), deadline - now) + 0.01)

    def idle(self, seconds: float) -> None:
        """Let SECONDS pass, the reader reading on; no emulator work (it costs this CPU)."""
        time.sleep(seconds)
        self._check()

    def _check(self) -> None:
        if self.failure is not None:
            raise RuntimeError("the pty reader failed") from self.failure


def ended(terminal: Terminal) -> str:
    return (
        f"{terminal.name} ended (exit {terminal.screen.process.poll()}); its screen:\n"
        f"{terminal.text()}"
    )


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match or int(match[1]) < 40 or int(match[2]) < 12:
        raise argparse.ArgumentTypeError("COLSxLINES, at least 40x12, e.g. 120x36")
    return int(match[1]), int(match[2])


@dataclass
class Figures:
    """What a run measured."""

    started_in: float = 0.0  # seconds until every screen counted everyone in
    # Per app, per change: seconds from just before the write until it showed it (None: never).
    latency: dict[str, list[float | None]] = field(default_factory=dict)
    writes: list[float] = field(default_factory=list)  # seconds each add_complaints took
    drawn: list[int] = field(default_factory=list)  # bytes an app wrote to show a change
    redrawn: list[int] = field(default_factory=list)  # screen lines it wrote to, meanwhile
    off_screen: int = 0  # written, but not on the rebuilt screen
    gone_late: int = 0  # deleted cards still on a screen after GONE_TIMEOUT
    restless: int = 0  # changes after which the apps did not go quiet within GONE_TIMEOUT
    changing: float = 0.0  # seconds of the change loop, untimed parts included
    change_cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds in that loop
    timed: float = 0.0  # seconds spent timing (from each write until the last screen)
    bench_cpu: float = 0.0  # CPU seconds this process used meanwhile
    others: float = 0.0  # cores other processes kept busy during the change loop
    idle_cpu: dict[str, float] = field(default_factory=dict)  # % of a core
    idle_bytes: dict[str, float] = field(default_factory=dict)  # bytes/s written while idle


def start(
    cast: list[tuple[str, list[str]]],
    env: dict[str, str],
    cwd: Path,
    size: tuple[int, int],
    screens: list[Screen],
) -> Crowd:
    """The facilitator (CAST's first), then the participants, until every screen is up in
    vent and counts every participant in. SCREENS gets each app as it is spawned."""
    n = len(cast) - 1
    here = re.compile(rf"\b{n} (of {n} )?here\b")  # the header's count of who is here

    def ready(terminal: Terminal) -> bool:
        text = terminal.text()
        own = terminal.name == "facilitator" or "your side" in text
        return own and bool(here.search(text))

    screens.append(spawn(*cast[0], env, cwd, size))
    terminals = [Terminal(screens[0], size)]
    # The facilitator alone first: it fills the bytecode cache that the others then read.
    crowd = Crowd(terminals)
    try:
        crowd.wait_screens(lambda t: "Add complaint" in t.text(), START_TIMEOUT)
    finally:
        crowd.close()
    for name, argv in cast[1:]:
        screens.append(spawn(name, argv, env, cwd, size))
        terminals.append(Terminal(screens[-1], size))
    crowd = Crowd(terminals)
    late = crowd.wait_screens(ready, START_TIMEOUT)
    if late:
        crowd.close()
        first = next(t for t in terminals if t.name == late[0])
        raise SystemExit(
            f"{len(late)} apps did not count all {n} participants in within "
            f"{START_TIMEOUT:g} s ({', '.join(late[:8])}); {first.name}'s screen:\n"
            f"{first.text()}"
        )
    return crowd


def change(
    crowd: Crowd, sessions: Sessions, code: str, number: int, deadline: float, figures: Figures
) -> None:
    """One timed change, then its untimed undoing."""
    marker = f"crowd-change-{number:02d}"
    crowd.sync()
    for terminal in crowd.terminals:
        terminal.emulator.dirty.clear()
    crowd.watch(marker.encode())
    written = {t.name: t.written for t in crowd.terminals}
    used = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    added = sessions.add_complaints(code, [(side, marker, None) for side in SIDES])
    figures.writes.append(time.monotonic() - t0)
    shown = crowd.wait_shown(t0 + deadline)
    figures.timed += time.monotonic() - t0
    done = resource.getrusage(resource.RUSAGE_SELF)
    figures.bench_cpu += done.ru_utime + done.ru_stime - used.ru_utime - used.ru_stime
    crowd.watch(None)
    for terminal in crowd.terminals:
        at = shown[terminal.name]
        if at is None and terminal.screen.process.poll() is not None:
            raise SystemExit(ended(terminal))
        figures.latency.setdefault(terminal.name, []).append(None if at is None else at - t0)

    # Untimed: is it on the screens; then the cards away again, until off every screen.
    crowd.sync()
    figures.drawn += [t.written - written[t.name] for t in crowd.terminals]
    figures.redrawn += [len(t.emulator.dirty) for t in crowd.terminals]
    figures.off_screen += sum(
        1 for t in crowd.terminals if shown[t.name] is not None and marker not in t.text()
    )
    for complaint in added:
        sessions.delete_complaint(code, complaint.id)
    figures.gone_late += len(crowd.wait_screens(lambda t: marker not in t.text(), GONE_TIMEOUT))
    # Every app done drawing the deletions (the second one redraws a count on half of them),
    # so that the next change does not queue behind them; then a random 0 to 0.1 s, so that it
    # falls anywhere within the apps' poll.
    figures.restless += not crowd.wait_quiet(QUIET, GONE_TIMEOUT)
    crowd.idle(random.uniform(0.0, 0.1))


def measure(
    crowd: Crowd, sessions: Sessions, code: str, args: argparse.Namespace, figures: Figures
) -> None:
    """The changes, then the idle seconds."""
    terminals = crowd.terminals
    before = {t.name: cpu_ticks(t.screen.process.pid) for t in terminals}
    busy, own = machine_ticks(), cpu_ticks(os.getpid())
    t_changes = time.monotonic()
    for number in range(1, args.changes + 1):
        change(crowd, sessions, code, number, args.deadline, figures)
    figures.changing = time.monotonic() - t_changes
    for terminal in terminals:
        spent = cpu_ticks(terminal.screen.process.pid) - before[terminal.name]
        figures.change_cpu[terminal.name] = spent / HZ
    ours = sum(figures.change_cpu.values()) + (cpu_ticks(os.getpid()) - own) / HZ
    figures.others = ((machine_ticks() - busy) / HZ - ours) / figures.changing

    crowd.idle(SETTLE)  # the last deletion drawn; from now on nothing changes
    marks = {t.name: (cpu_ticks(t.screen.process.pid), t.written) for t in terminals}
    t_idle = time.monotonic()
    crowd.idle(args.idle)
    idled = time.monotonic() - t_idle
    for terminal in terminals:
        ticks, written = marks[terminal.name]
        spent = cpu_ticks(terminal.screen.process.pid) - ticks
        figures.idle_cpu[terminal.name] = 100.0 * spent / HZ / idled
        figures.idle_bytes[terminal.name] = (terminal.written - written) / idled


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:>8.0f}"


def report(figures: Figures, args: argparse.Namespace) -> list[str]:
    """Print the figures; the goals missed."""
    deadline, n = args.deadline, args.participants
    latency = figures.latency
    never = sum(1 for values in latency.values() for value in values if value is None)
    counted = {name: [deadline if v is None else v for v in vs] for name, vs in latency.items()}
    participants = [v for name, vs in counted.items() if name != "facilitator" for v in vs]
    every = [*counted["facilitator"], *participants]

    print(
        f"\nup in {figures.started_in:.1f} s. Per change, ms from just before the write until "
        "the first, the median and the last screen showed it:"
    )
    print(f"{'change':>6}{'write':>8}{'first':>8}{'median':>8}{'last':>8}{'missed':>8}")
    for index, wrote in enumerate(figures.writes):
        times = sorted(vs[index] for vs in latency.values() if vs[index] is not None)
        missed = len(latency) - len(times)
        cells = ms(times[0]) + ms(statistics.median(times)) + ms(times[-1]) if times else ""
        print(f"{index + 1:>6}{wrote * 1e3:>8.1f}{cells or '-':>24}{missed:>8}")

    print(f"\nover every (app, change), ms; a screen that missed counts as {deadline:g} s:")
    print(f"{'apps':<17}{'n':>5}{'p50':>8}{'p95':>8}{'max':>8}  goal")
    for label, values, goal in (
        ("facilitator", counted["facilitator"], ""),
        (f"{n} participants", participants, ""),
        ("all", every, f"p95 <= {GOAL_P95 * 1e3:g}, max <= {GOAL_MAX * 1e3:g}"),
    ):
        print(
            f"{label:<17}{len(values):>5}{ms(statistics.median(values))}"
            f"{ms(percentile(values, 0.95))}{ms(max(values))}  {goal}"
        )
    print(f"screens that never showed a change within {deadline:g} s: {never} (goal 0)")
    print(
        f"info: written but not on the rebuilt screen: {figures.off_screen}; deleted cards "
        f"still on a screen after {GONE_TIMEOUT:g} s: {figures.gone_late}; apps not quiet "
        f"{GONE_TIMEOUT:g} s after a deletion: {figures.restless}"
    )

    cores = os.cpu_count() or 1
    per_change = [
        (spent - figures.idle_cpu[name] / 100.0 * figures.changing) / args.changes
        for name, spent in figures.change_cpu.items()
    ]
    drawing = len(per_change) * statistics.mean(per_change) / 2  # the card's half: shown
    print(
        f"info: CPU per app per change (card drawn, then deleted; idle cost taken off): mean "
        f"{statistics.mean(per_change) * 1e3:.0f} ms, max {max(per_change) * 1e3:.0f} ms;\n"
        f"      half of it times {len(per_change)} apps is {drawing:.2f} s of CPU to show one "
        f"card everywhere: on {cores} cores, ~{drawing / cores * 1e3:.0f} ms for the last screen"
    )
    print(
        f"info: to show a change an app wrote {statistics.median(figures.drawn) / 1e3:.1f} kB "
        f"median to its terminal, writing to {statistics.median(figures.redrawn):.0f} of its "
        f"{args.size[1]} lines (median)"
    )
    print(
        f"info: add_complaints took {statistics.median(figures.writes) * 1e3:.1f} ms median; "
        f"this bench used {figures.bench_cpu / figures.timed:.2f} of a core while it timed;\n"
        f"      other processes kept {figures.others:.2f} of the {cores} cores busy during the "
        "changes (kernel included; well above 0.1, the figures are not the app's alone)"
    )

    idle = {name: v for name, v in figures.idle_cpu.items() if name != "facilitator"}
    written = [v for name, v in figures.idle_bytes.items() if name != "facilitator"]
    print(f"\nidle for {args.idle:g} s, nothing changing (utime+stime from /proc/PID/stat):")
    print(f"{'apps':<18}{'% of a core':>12}{'bytes/s':>9}  goal")
    print(
        f"{'facilitator':<18}{figures.idle_cpu['facilitator']:>12.2f}"
        f"{figures.idle_bytes['facilitator']:>9.0f}  info"
    )
    print(
        f"{'participant, mean':<18}{statistics.mean(idle.values()):>12.2f}"
        f"{statistics.mean(written):>9.0f}"
    )
    print(
        f"{'participant, max':<18}{max(idle.values()):>12.2f}{max(written):>9.0f}  "
        f"<= {GOAL_IDLE:g} ({max(idle, key=idle.__getitem__)})"
    )

    p95, worst = percentile(every, 0.95), max(every)
    failed = []
    if p95 > GOAL_P95:
        failed.append(f"p95 {p95 * 1e3:.0f} ms > {GOAL_P95 * 1e3:g}")
    if worst > GOAL_MAX:
        failed.append(f"max {worst * 1e3:.0f} ms > {GOAL_MAX * 1e3:g}")
    if never:
        failed.append(f"{never} screens never showed a change")
    if max(idle.values()) > GOAL_IDLE:
        failed.append(f"an idle participant used {max(idle.values()):.2f} % > {GOAL_IDLE:g}")
    return failed


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=40, help="participant apps")
    parser.add_argument("--changes", type=int, default=20, help="timed changes")
    parser.add_argument("--size", type=parse_size, default=(120, 36), help="COLSxLINES")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle measurement")
    parser.add_argument(
        "--deadline", type=float, default=5.0, help="seconds a screen has to show a change"
    )
    parser.add_argument("--quick", action="store_true", help="5 participants, 5 changes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if pyte is None:
        print(
            "crowd.py rebuilds the apps' screens with pyte, a terminal emulator that is not "
            "one of the project's dependencies: pip install pyte",
            file=sys.stderr,
        )
        return 2
    if args.quick:
        args.participants, args.changes = min(args.participants, 5), min(args.changes, 5)
        args.idle = min(args.idle, 5.0)
    if args.participants < 1 or args.changes < 1:
        parser.error("--participants and --changes must be at least 1")

    signal.signal(signal.SIGTERM, interrupted)
    command, shown_as = therapy_command()
    cores = os.cpu_count()
    print(
        f"crowd: `{shown_as}` facilitate + {args.participants} x join on "
        f"{args.size[0]}x{args.size[1]} ptys, {args.changes} changes; {cores} cores, "
        f"load average {load()} before",
        flush=True,
    )
    scratch = Path(tempfile.mkdtemp(prefix="therapy-bench-crowd-"))
    data = scratch / "data"
    env = environment(scratch / "pycache", terminal=True, size=args.size)
    screens: list[Screen] = []
    crowd: Crowd | None = None
    figures = Figures()
    try:
        sessions = Sessions(Store(data))
        code = sessions.create("Crowd bench", SIDES).code
        sessions.set_phase(code, "vent")
        base = [*command, "--data-dir", str(data)]
        cast = [("facilitator", [*base, "facilitate", code])]
        for number in range(1, args.participants + 1):
            side, name = SIDES[(number - 1) % len(SIDES)], f"P{number}"
            cast.append((name, [*base, "join", code, "--name", name, "--side", side]))
        t_start = time.monotonic()
        crowd = start(cast, env, scratch, args.size, screens)
        figures.started_in = time.monotonic() - t_start
        crowd.idle(SETTLE)  # presence settled: the apps look once a second
        measure(crowd, sessions, code, args, figures)
    finally:
        if crowd is not None:
            crowd.close()
        stop(screens)
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    failed = report(figures, args)
    print(f"load average {load()} after ({cores} cores)")
    if failed:
        print(f"RESULT: FAILED ({'; '.join(failed)})")
        return 1
    print("RESULT: ok")
    return 0


if __name__ == "__main__":
    run_campaign(main)
