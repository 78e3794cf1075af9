"""Serve: N SSH clients joined to one session through `therapy serve` (issue 17). Goals: first
frame p95 <= 1.5 s with 40 joining together; a change's p95 until every client's stream shows
it within 1.2x of bench/crowd.py's in the same run; the server idle <= 1 % of a core.

A fresh data folder, a session in vent (made through the service, as `therapy new` would),
`therapy serve --ssh 127.0.0.1:PORT`; N asyncssh clients (an ed25519 key each) connect at once
with a 120x36 xterm-256color pty and the code as command, answering as soon as asked: name Pn,
side Sales (n odd) or Marketing. Each step (SSH session open, name asked, side asked, first
frame: the board, whose header says "you: Pn (") is timed from just before the connect to the
read after which the bytes since the last answer, ANSI escapes removed, hold its text.
A change is crowd.py's: add_complaints in this process (what `therapy add` runs, less its
start-up, which crowd.py does not count either), a marker card per side, timed from just before
the call to the read after which a client's stream holds it; untimed, deleted, until no pyte
screen shows it and no byte came for 0.3 s. crowd.py then runs as a subprocess; the ratio takes
its participants' p95 (its "all" adds the facilitator). Memory: VmRSS (Pss) of the apps (on a
pty, below the server) and the server's. Idle: utime + stime over --idle s. At the end, or on an
error, Ctrl-C or SIGTERM, the clients close, the server gets SIGINT (its Ctrl+C), is killed
after 10 s, as is any process naming the data folder (counted: goal 0). RESULT: ok / FAILED.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import PIPE, STDOUT, Popen, TimeoutExpired

# First: importing common puts the checkout on sys.path for the therapy imports below.
import common
from common import ANSI, COLUMNS, LINES, cpu_ticks, percentile
from crowd import GONE_TIMEOUT, HZ, QUIET, SETTLE, SIDES, load, pyte

from therapy.service import Sessions
from therapy.store import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # cryptography deprecates DSA, which asyncssh still names
    import asyncssh

GOAL_FIRST = 1.5  # s, p95 from connect to first frame, all joining at once
GOAL_RATIO = 1.2  # the change's p95, serve's over crowd.py's
GOAL_SERVER_IDLE = 1.0  # % of a core
HOST, TERM, SIZE = "127.0.0.1", "xterm-256color", (COLUMNS, LINES)
JOIN_TIMEOUT = 120.0  # s for a client to show its board, then for all to count everyone here
STOP_TIMEOUT = 10.0  # s for the server to stop after SIGINT before it is killed
STEPS = {"ssh": "SSH session open", "name": "name asked", "side": "side asked", "board": "board"}
CLIENT = {"known_hosts": None, "agent_path": None, "config": None, "preferred_auth": "publickey"}
CROWD = re.compile(r"^(all|\d+ participants)\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)", re.M)


class Client(asyncssh.SSHClientSession[bytes]):
    """One participant's SSH session: the texts it waits for, each timed as it comes in (and a
    question of joining answered then); its screen rebuilt by pyte when the bench asks."""

    def __init__(self, number: int) -> None:
        self.name, self.side = f"P{number}", SIDES[(number - 1) % len(SIDES)]
        board = f"you: {self.name} (".encode()
        self.steps = [("name", b"Your name"), ("side", b"Your side"), ("board", board)]
        self.at: dict[str, float] = {}  # step: time.monotonic() when its text came in
        self.since = bytearray()  # received since the last step came in
        self.emulator = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.emulator)
        self.unfed = bytearray()  # received, not yet given to the emulator
        self.received, self.last = 0, 0.0  # bytes in all; time.monotonic() of the last
        self.conn: asyncssh.SSHClientConnection | None = None
        self.chan: asyncssh.SSHClientChannel[bytes] | None = None
        self.closed, self.error = False, ""

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self.chan = chan

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        now = time.monotonic()
        self.unfed += data
        self.received, self.last = self.received + len(data), now
        if not self.steps:
            return
        self.since += data
        text = ANSI.sub(b"", bytes(self.since))
        step, wanted = self.steps[0]
        if wanted in text:
            self.at[step] = now
            self.expect(self.steps[1:])
            if step in ("name", "side") and self.chan is not None:
                self.chan.write(self.answer(step, text))

    def answer(self, step: str, text: bytes) -> bytes:
        if step == "name":
            return f"{self.name}\r".encode()
        if "Your side (↑".encode() in text:  # the app's join screen: a list, the first lit
            return b"\x1b[B" * SIDES.index(self.side) + b"\r"
        return f"{self.side}\r".encode()

    def expect(self, steps: list[tuple[str, bytes]]) -> None:
        self.steps = steps
        self.since.clear()

    def text(self) -> str:
        self.stream.feed(bytes(self.unfed))
        self.unfed.clear()
        return "\n".join(line.rstrip() for line in self.emulator.display)


async def join(client: Client, key: asyncssh.SSHKey, port: int, code: str) -> None:
    """Connect and open the session; the client answers as it goes (Client.steps)."""
    client.at["connect"] = time.monotonic()
    try:
        client.conn = conn = await asyncssh.connect(HOST, port, client_keys=[key], **CLIENT)
        await conn.create_session(
            lambda: client, code, term_type=TERM, term_size=SIZE, encoding=None
        )
        client.at["ssh"] = time.monotonic()
        deadline = client.at["connect"] + JOIN_TIMEOUT
        if not await until([client], lambda c: "board" in c.at or c.closed, deadline, 0.05):
            client.error = f"no board within {JOIN_TIMEOUT:g} s"
        elif client.steps:
            client.error = f"ended before the {client.steps[0][0]} showed:\n{client.text()}"
    except (OSError, asyncssh.Error) as error:
        client.error = f"{type(error).__name__}: {error}"


async def until(clients: list[Client], done: Callable, deadline: float, pause: float) -> bool:
    """Whether DONE(client) holds for every client by DEADLINE, looked at every PAUSE s."""
    while not all(done(c) for c in clients):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(pause)
    return True


async def bench(args: argparse.Namespace, server: int, port: int, code: str, r: dict) -> None:
    """Join, change, idle: the figures into R."""
    clients = [Client(number) for number in range(1, args.clients + 1)]
    keys = [asyncssh.generate_private_key("ssh-ed25519") for _ in clients]
    try:
        await asyncio.gather(*(join(c, k, port, code) for c, k in zip(clients, keys, strict=True)))
        r["refused"] = [f"{c.name}: {c.error}" for c in clients if c.error]
        if r["refused"]:
            return
        r["joining"] = {s: summary([c.at[s] - c.at["connect"] for c in clients]) for s in STEPS}
        here = re.compile(rf"\b{args.clients} (of {args.clients} )?here\b")
        if not await until(clients, lambda c: here.search(c.text()), time.monotonic() + 60, 0.5):
            late = next(c for c in clients if not here.search(c.text()))
            raise SystemExit(f"{late.name} does not count everyone here:\n{late.text()}")
        await asyncio.sleep(SETTLE)  # presence settled
        below = {server, *(pid for pid, parent, _, _ in processes() if parent == server)}
        apps = [pid for pid, parent, tty, _ in processes() if tty and parent in below]
        r["app_start_cpu_s"] = statistics.mean(cpu_ticks(pid) for pid in apps) / HZ
        rss = [kib(pid, "VmRSS") / 1024 for pid in apps]
        pss = [kib(pid, "Pss", "smaps_rollup") / 1024 for pid in apps]
        r["app_rss_mib"] = {**summary(rss), "pss_p50": statistics.median(pss)}
        r["server_rss_mib"] = kib(server, "VmRSS") / 1024
        served, timed = cpu_ticks(server), Changes(clients, code, args)
        for number in range(1, args.rounds + 1):
            await timed.make(f"serve-change-{number:02d}")
        r["server_cpu_per_change_s"] = (cpu_ticks(server) - served) / HZ / args.rounds
        r["never_shown"], r["off_screen"] = timed.latency.count(None), timed.off_screen
        r["change"] = summary([args.deadline if v is None else v for v in timed.latency])
        r["bench_cores_timing"] = timed.cpu / timed.seconds
        await asyncio.sleep(SETTLE)  # the last deletion drawn; from now on nothing changes
        ticks = {pid: cpu_ticks(pid) for pid in [server, os.getpid(), *apps]}
        received, t_idle = sum(c.received for c in clients), time.monotonic()
        await asyncio.sleep(args.idle)
        idled = time.monotonic() - t_idle
        idle = {pid: 100.0 * (cpu_ticks(pid) - was) / HZ / idled for pid, was in ticks.items()}
        r["idle_server_pct"], r["idle_bench_pct"] = idle.pop(server), idle.pop(os.getpid())
        r["idle_apps_pct"] = {"mean": statistics.mean(idle.values()), "max": max(idle.values())}
        r["idle_bytes_per_s"] = (sum(c.received for c in clients) - received) / idled
    finally:
        for conn in [c.conn for c in clients if c.conn is not None]:
            conn.close()
        await asyncio.sleep(0.2)


class Changes:
    """Timed changes, each undone untimed, as crowd.py's; their figures added up."""

    def __init__(self, clients: list[Client], code: str, args: argparse.Namespace) -> None:
        self.clients, self.code, self.deadline = clients, code, args.deadline
        self.sessions = Sessions(Store(args.data))
        self.latency: list[float | None] = []  # per (change, client); None: missed
        self.off_screen = 0  # in a client's stream, not on its rebuilt screen
        self.cpu = self.seconds = 0.0  # this bench's CPU while it timed; the seconds timed

    async def make(self, marker: str) -> None:
        for client in self.clients:
            client.text()  # what came before, fed to the emulator before the clock starts
            client.expect([(marker, marker.encode())])
        cpu, t0 = time.process_time(), time.monotonic()
        added = self.sessions.add_complaints(self.code, [(side, marker, None) for side in SIDES])
        await until(self.clients, lambda c: marker in c.at or c.closed, t0 + self.deadline, 0.01)
        self.cpu += time.process_time() - cpu
        self.seconds += time.monotonic() - t0
        self.latency += [c.at[marker] - t0 if marker in c.at else None for c in self.clients]
        for client in self.clients:
            client.expect([])
        self.off_screen += sum(1 for c in self.clients if marker not in c.text())
        for complaint in added:
            self.sessions.delete_complaint(self.code, complaint.id)
        deadline = time.monotonic() + GONE_TIMEOUT
        await until(self.clients, lambda c: marker not in c.text(), deadline, 0.2)
        while time.monotonic() < min(max(c.last for c in self.clients) + QUIET, deadline):
            await asyncio.sleep(0.05)  # until every app is done drawing
        await asyncio.sleep(random.uniform(0.0, 0.1))  # the next change anywhere in a poll


def processes() -> Iterator[tuple[int, int, int, bytes]]:
    """(pid, parent's pid, controlling terminal or 0, command line) of every process."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()  # 3 on of proc(5)
            yield int(entry.name), int(fields[1]), int(fields[4]), (entry / "cmdline").read_bytes()


def kib(pid: int, name: str, file: str = "status") -> int:
    """A 'Name:   1234 kB' line of /proc/PID/status (or smaps_rollup), in KiB; 0 if gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    return 0


def start_server(command: list[str], scratch: Path, env: dict[str, str]) -> tuple[Popen, int]:
    """`therapy serve` on a free loopback port, once it says it listens; in a session of its own
    (Ctrl-C is ours to pass on), its output to a file (a pipe nobody reads would block it)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    argv = [*command, "--data-dir", str(scratch / "data"), "serve", "--ssh", f"{HOST}:{port}"]
    with open(scratch / "serve.log", "wb") as log:
        server = Popen(argv, env=env, stdout=log, stderr=STDOUT, start_new_session=True)
    deadline = time.monotonic() + JOIN_TIMEOUT
    while "Ctrl+C stops it" not in (said := (scratch / "serve.log").read_text()):
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"therapy serve did not start:\n{said}")
        time.sleep(0.05)
    return server, port


def stop_server(server: Popen | None, data: Path) -> int:
    """SIGINT, then SIGKILL to it and to any process naming DATA; how many were left."""
    if server is not None and server.poll() is None:
        server.send_signal(signal.SIGINT)
        with contextlib.suppress(TimeoutExpired):
            server.wait(STOP_TIMEOUT)
        server.kill()  # nothing if it has ended
        server.wait()
    left = [pid for pid, _, _, command in processes() if str(data).encode() in command]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(left)


def run_crowd(args: argparse.Namespace) -> dict:
    """bench/crowd.py with as many participants and changes: its rows (s) and RESULT line."""
    options = f"--participants {args.clients} --changes {args.rounds} --idle {args.idle:g}".split()
    argv = [sys.executable, str(Path(__file__).with_name("crowd.py")), *options]
    crowd = Popen(argv, stdout=PIPE, stderr=STDOUT, text=True, start_new_session=True)
    try:
        out, _ = crowd.communicate()
    finally:
        if crowd.poll() is None:  # interrupted: crowd.py cleans up after a SIGTERM
            crowd.terminate()
            with contextlib.suppress(TimeoutExpired):
                crowd.wait(15)
            crowd.kill()
    rows = {m[1].split()[-1]: [int(v) / 1e3 for v in m.groups()[1:]] for m in CROWD.finditer(out)}
    if "participants" not in rows:
        raise SystemExit(f"crowd.py printed no figures:\n{out[-3000:]}")
    result = next(line for line in out.splitlines() if line.startswith("RESULT"))
    return {"participants": rows["participants"], "all": rows["all"], "result": result}


def summary(v: list[float]) -> dict:
    return {"n": len(v), "p50": statistics.median(v), "p95": percentile(v, 0.95), "max": max(v)}


def row(label: str, figure: dict | list, goal: str = "") -> str:
    values = [figure[k] for k in ("p50", "p95", "max")] if isinstance(figure, dict) else figure
    return f"{label:<28}" + "".join(f"{v * 1e3:>7.0f}" for v in values) + f"  {goal}"


def check(failed: list[str], what: str, value: float, goal: float, unit: str = "") -> str:
    """The goal and its verdict; a miss added to FAILED."""
    if value > goal:
        failed.append(f"{what} {value:.2f}{unit} > {goal:g}{unit}")
    return f"<= {goal:g}{unit}  {'ok' if value <= goal else 'OVER'}"


def report(r: dict, args: argparse.Namespace, say: Callable[[str], None]) -> list[str]:
    """Print the figures through SAY; the goals missed."""
    failed: list[str] = []
    if r["refused"]:
        say("\n".join([f"\nclients that did not join: {len(r['refused'])}", *r["refused"][:3]]))
        return [f"{len(r['refused'])} of {args.clients} clients did not join"]
    first = check(failed, "first frame p95", r["joining"]["board"]["p95"], GOAL_FIRST, " s")
    cpu_bound = r["app_start_cpu_s"] * args.clients / (os.cpu_count() or 1)
    lines = [
        f"\n{args.clients} joining at once, ms from each connect until (first frame: the board):",
        f"{'':<28}{'p50':>7}{'p95':>7}{'max':>7}  goal",
        *(row(label, r["joining"][s], first if s == "board" else "") for s, label in STEPS.items()),
        f"info: an app's CPU by then, mean {r['app_start_cpu_s']:.2f} s: {args.clients} of them on "
        f"{os.cpu_count()} cores take {cpu_bound:.1f} s at best",
        f"\na change until a client's stream shows it, ms (a miss counts as {args.deadline:g} s):",
        row(f"serve, {args.clients} clients x {args.rounds}", r["change"]),
    ]
    if crowd := r.get("crowd"):
        ratio = r["ratio"] = r["change"]["p95"] / crowd["participants"][1]
        lines += [
            row("crowd.py, participants", crowd["participants"], f"(crowd.py's {crowd['result']})"),
            f"ratio of the p95s, serve / crowd.py's participants: {ratio:.2f}  "
            + check(failed, "change p95 ratio to crowd.py", ratio, GOAL_RATIO, "x"),
        ]
    else:
        lines.append("crowd.py not run (--no-crowd): no ratio")
    apps, idle = r["app_rss_mib"], r["idle_server_pct"]
    lines += [
        f"(client, change) never shown: {r['never_shown']}  "
        + check(failed, "(client, change) never shown", r["never_shown"], 0),
        f"info: in a stream but not on the rebuilt screen: {r['off_screen']}",
        f"info: per change the server used {r['server_cpu_per_change_s'] * 1e3:.0f} ms of CPU; "
        f"while it timed this bench used {r['bench_cores_timing']:.2f} of a core",
        f"\nmemory of {apps['n']} app processes: RSS p50 "
        f"{apps['p50']:.1f} MiB, max {apps['max']:.1f} MiB (Pss p50 {apps['pss_p50']:.1f} "
        f"MiB, info); the server's RSS {r['server_rss_mib']:.1f} MiB",
        f"\nidle for {args.idle:g} s, all connected, nothing changing (utime+stime, % of a core):",
        f"  the server {idle:.2f}  " + check(failed, "server idle", idle, GOAL_SERVER_IDLE, " %"),
        f"  its apps mean {r['idle_apps_pct']['mean']:.2f}, max {r['idle_apps_pct']['max']:.2f}"
        f" (info); this bench {r['idle_bench_pct']:.2f}; {r['idle_bytes_per_s']:.0f} bytes/s sent",
    ]
    say("\n".join(lines))
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=40, help="SSH clients")
    parser.add_argument("--rounds", type=int, default=20, help="timed changes")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle measurement")
    parser.add_argument("--deadline", type=float, default=5.0, help="s to show a change")
    parser.add_argument("--no-crowd", action="store_true", help="skip crowd.py: no ratio")
    parser.add_argument("--json", action="store_true", help="the figures as JSON on stdout")
    args = parser.parse_args()
    if pyte is None:
        parser.error("the screens are rebuilt with pyte, not a dependency: pip install pyte")
    if args.clients < 1 or args.rounds < 1:
        parser.error("--clients and --rounds must be at least 1")
    signal.signal(signal.SIGTERM, common.interrupted)
    command, shown_as = common.therapy_command()
    log = sys.stderr if args.json else sys.stdout
    say = lambda text: print(text, file=log, flush=True)  # noqa: E731
    say(f"serve: `{shown_as} serve` and {args.clients} asyncssh clients, {args.rounds} changes;")
    say(f"{os.cpu_count()} cores, load average {load()} before")
    scratch = Path(tempfile.mkdtemp(prefix="therapy-bench-serve-"))
    args.data = scratch / "data"
    r: dict = {"clients": args.clients, "rounds": args.rounds, "refused": []}
    server = None
    try:
        sessions = Sessions(Store(args.data))
        code = sessions.create("Serve bench", SIDES).code
        sessions.set_phase(code, "vent")
        server, port = start_server(command, scratch, common.environment(scratch / "pycache"))
        asyncio.run(bench(args, server.pid, port, code, r))
    finally:
        r["left_behind"] = stop_server(server, args.data)
        shutil.rmtree(scratch, ignore_errors=True)
    if not r["refused"] and not args.no_crowd:
        say(f"then bench/crowd.py --participants {args.clients} --changes {args.rounds}")
        r["crowd"] = run_crowd(args)
    r["failed"] = report(r, args, say)
    r["failed"] += [f"{r['left_behind']} processes left behind"] * bool(r["left_behind"])
    say(f"processes left behind: {r['left_behind']} (goal 0); load average {load()} after")
    if args.json:
        print(json.dumps(r, indent=1))
    say(f"RESULT: FAILED ({'; '.join(r['failed'])})" if r["failed"] else "RESULT: ok")
    return 1 if r["failed"] else 0


if __name__ == "__main__":
    common.run_campaign(main)
