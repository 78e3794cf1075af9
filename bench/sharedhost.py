"""Shared host: a hostile member of the data folder's group cannot turn a facilitator's
command against them.

The set-up is the README's "Running a retro over SSH": a data folder of mode 2770 (setgid)
shared by a group, files made with umask 002. The facilitator is the user running this
script; the attacker is a second Unix user of the folder's group, `therapy-attacker`, made
by the script (useradd --system --no-create-home) when it runs as root and that user does
not exist yet, and removed again at the end if it was made. Not as root, no second user can
be made: the attacker then runs as the same user (said at the start; every attack is still
one a group member can make, only the uid is the same).

The attacker is a process forked at the start, before any thread, that drops to the
attacker's uid and gid (setgroups, setgid, setuid; umask 002) and forks one child per
attack, so it needs no interpreter or file it could not read as that user.

Each round is one attack against one victim command, in a fresh copy of a data folder
with two sessions of one pair (the target T, at check-in, with a card and a participant Kim
whose presence file exists; the earlier U, in remedy, with an action item), beside a fresh
canary home outside the data folder, owned by the facilitator, mode 0700: .bashrc, .profile,
.ssh/authorized_keys, important/{a.txt,b.txt,report.tmp,sub/c.txt}, drafts/notes.tmp and
an empty folder empty/. The home is fingerprinted (every entry's type, mode, owner, size,
mtime, ctime, content hash or link target) before and after the round: any difference is
a changed canary.

Victims, run as the facilitator with umask 002 on a pseudo-terminal of their own (so that
they write as to a terminal), in a session of their own, with their address space capped
at 3 GiB so that no attack can take the machine's memory: `therapy list`, `list --json`,
`new`, `add T`, `status T`, `export T`, `actions`, `history`, `phase T next`, and three
that stand for the app, as a python subprocess over the service: `delete` (the list's d, y:
Sessions.delete(T)), `join` (Sessions.join(T, Sales, Kim) then attend, held 0.3 s: a
participant's presence) and `view` (Sessions.view(T): what `facilitate` draws, who is here
included). The orphan cleaner runs inside `list` and `new`. A service victim prints a
TherapyError's sentence, or "unexpected" and the error, as the app would show them (with
ascii(): the app's screen is drawn by Textual, so raw controls are counted for the CLI).

Attacks, each made by the attacker before the victim starts or, for the races, while it
runs (the table below the counts lists them with the victims each is run against):
  - a session folder swapped for a symlink to the canary folder important/: before the
    victim, in a tight rename/symlink loop during it, or once the moment a `.index.json.*.tmp`
    shows in the data folder (the delete's index rewrite);
  - orphan-looking session folders that are symlinks to canary folders (empty/, drafts/);
  - symlinks to canary files in place of sessions/T/lock, index.lock and presence/1.lock,
    alone or with a `*.tmp` bait that makes readers take the lock to clean up; symlinks in
    place of session.json (to a canary file, to /dev/zero), index.json, the presence folder,
    and as `*.tmp` bait themselves;
  - FIFOs and Unix sockets in place of session.json (of U, which T's history reads),
    index.json, sessions/T/lock, index.lock (with a bait) and presence/1.lock;
  - a sparse 2 GiB file in place of U's session.json;
  - control characters in stored text (titles, a card, an action item, a name, the index's
    titles): OSC 2 (ESC ] 2 ; ... BEL), OSC 52 (the clipboard), 8-bit CSI and OSC (C1).
Each pass runs every (attack, victim) pair once, in a seeded random order; --rounds counts
single rounds (default: 2 passes).

Counted (goal 0 each):
  - canaries changed: rounds after which the canary home differs;
  - hung past 10 s: victims still running 10 s after they started (their process group
    is killed);
  - tracebacks: victims that printed "Traceback";
  - raw controls: victims whose terminal output has a C0 control but newline and tab, DEL
    or a C1 control (as UTF-8, or as a raw byte 0x80-0x9f);
  - unexpected errors: "Something went wrong that therapy did not expect" (the CLI) or an
    error that is not a TherapyError (the service victims), e.g. MemoryError;
  - over 1 GiB of memory: victims whose peak resident memory passed 1 GiB;
  - and, for the bench itself: victims that failed with no attack, attacks that could not
    be placed, and errors of the bench.
A victim that fails with a sentence (a non-zero exit, nothing of the above) is fine: it is
counted as "refused" in the table by attack.

Everything is made under one temporary folder, removed at the end (--keep keeps it), with
the attacker's processes killed; nothing goes off the machine.
Usage: python bench/sharedhost.py [--rounds N] [--workers N] [--time-limit S] [--seed N]
                                  [--attack TEXT]... [--verbose] [--debug] [--quick] [--keep]
Prints counts and RESULT: ok / FAILED; exits 1 when a goal count is not 0.
"""

from __future__ import annotations

import argparse
import array  # noqa: F401  (socket.send_fds and recv_fds import it lazily: the attacker cannot)
import contextlib
import fcntl
import grp
import hashlib
import json
import os
import pty
import pwd
import random
import resource
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# First: importing common puts the checkout on sys.path for the therapy imports below.
from common import (
    COLUMNS,
    LINES,
    environment,
    interrupted,
    run_campaign,
    table,
    therapy_command,
)

import therapy
from therapy.service import Sessions
from therapy.store import Store

ATTACKER = "therapy-attacker"
HUNG_AFTER = 10.0  # seconds a victim may run
MEMORY_CAP = 3 << 30  # RLIMIT_AS of every victim
BIG_MEMORY = 1 << 30  # peak resident memory counted as a finding
HUGE_FILE = 2 << 30
PLACE_TIMEOUT = 10.0  # for the attacker to place an attack, or to end one
RACE_LIMIT = 40.0  # a racing attack ends by itself after this long
PAIR = "Bench pair"
SIDES = ("Sales", "Marketing")
UNEXPECTED = (  # the CLI's sentence for an error it did not expect, and the service victims'
    b"Something went wrong that therapy did not expect",
    b"The app would stop after an unexpected error",
)

PAYLOAD = "b\x1b]2;TITLEPWN\x07\x1b]52;c;cHduZWQ=\x07\x9b31mC1\x9d0;C1PWN\x9c"

CANARY_FILES = {
    ".bashrc": "# ~/.bashrc\nalias ll='ls -l'\n",
    ".profile": '# ~/.profile\nexport PATH="$HOME/bin:$PATH"\n',
    ".ssh/authorized_keys": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench fac@laptop\n",
    "important/a.txt": "the facilitator's notes\n",
    "important/b.txt": "more notes\n",
    "important/report.tmp": "a draft of theirs that happens to end in .tmp\n",
    "important/sub/c.txt": "nested\n",
    "drafts/notes.tmp": "another draft\n",
}
CANARY_FOLDERS = ("empty",)

# -- victims ----------------------------------------------------------------------------

SERVICE_VICTIM = """\
import os, sys, time
from therapy.model import FACILITATOR, TherapyError
from therapy.service import Sessions
from therapy.store import Store

op, code = sys.argv[1], sys.argv[2]
try:
    sessions = Sessions(Store(os.environ["THERAPY_DATA_DIR"]))
    if op == "delete":  # the list's d, y (HomeScreen.delete)
        sessions.delete(code)
        print(f"Deleted session {code}.")
    elif op == "join":  # a participant's app: join, then presence while it runs
        participant = sessions.join(code, "Sales", "Kim", bound=True)
        attendance = sessions.attend(code, participant.id)
        time.sleep(0.3)
        attendance.close()
        print(f"Kim was here as participant {participant.id}.")
    elif op == "view":  # what facilitate draws, who is here included
        view = sessions.view(code, FACILITATOR)
        print(f"{len(view.board.complaints)} cards; here: {sorted(view.present)}")
except TherapyError as error:
    if os.environ.get("SHAREDHOST_DEBUG"):
        raise
    print(ascii(str(error)), file=sys.stderr)
    sys.exit(1)
except Exception as error:
    if os.environ.get("SHAREDHOST_DEBUG"):
        raise
    print(f"The app would stop after an unexpected error: {type(error).__name__}: "
          + ascii(str(error)), file=sys.stderr)
    sys.exit(2)
"""

# name -> (how it runs, its arguments; T and U are the sessions' codes)
VICTIMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "list": ("cli", ("list",)),
    "list --json": ("cli", ("list", "--json")),
    "new": ("cli", ("new", "Bench new", "--pair", PAIR)),
    "add": ("cli", ("add", "T", "--side", "Sales", "a card from the bench")),
    "status": ("cli", ("status", "T")),
    "export": ("cli", ("export", "T")),
    "actions": ("cli", ("actions",)),
    "history": ("cli", ("history",)),
    "phase": ("cli", ("phase", "T", "next")),
    "delete": ("service", ("delete", "T")),
    "join": ("service", ("join", "T")),
    "view": ("service", ("view", "T")),
}

# -- attacks ----------------------------------------------------------------------------
# Paths are written with {data} (the data folder), {s} (its sessions/), {T}, {U} (codes)
# and {home} (the canary home); steps are made in order, before the victim starts:
#   ("symlink", PATH, TARGET) ("fifo", PATH) ("socket", PATH) ("huge", PATH)
#   ("file", PATH) ("controls",)
# A race runs while the victim does: ("swap-loop", FOLDER, TARGET), or
# ("swap-on-tmp", WATCHED FOLDER, NAME PREFIX, FOLDER, TARGET).


@dataclass(frozen=True)
class Attack:
    name: str
    victims: tuple[str, ...]
    steps: tuple[tuple[str, ...], ...] = ()
    race: tuple[str, ...] | None = None
    heavy: bool = False  # takes a victim's memory: one such round at a time


IMPORTANT = "{home}/important"
ATTACKS = [
    Attack("none", tuple(VICTIMS)),
    Attack(
        "folder -> canary",
        ("add", "phase", "status", "export", "delete", "join", "view", "list"),
        (("symlink", "{s}/{T}", IMPORTANT),),
    ),
    Attack(
        "folder swap, racing",
        ("add", "phase", "status", "delete", "join", "list"),
        race=("swap-loop", "{s}/{T}", IMPORTANT),
    ),
    Attack(
        "folder swap at index rewrite",
        ("delete",),
        race=("swap-on-tmp", "{data}", ".index.json.", "{s}/{T}", IMPORTANT),
    ),
    Attack(
        "orphan folders -> canary",
        ("list", "new"),
        (
            ("symlink", "{s}/ZZORPHAN1", "{home}/empty"),
            ("symlink", "{s}/ZZORPHAN2", "{home}/drafts"),
        ),
    ),
    Attack(
        "lock -> canary",
        ("add", "phase", "delete", "join"),
        (("symlink", "{s}/{T}/lock", "{home}/.bashrc"),),
    ),
    Attack(
        "lock -> canary, .tmp bait",
        ("status", "export", "list", "view", "history", "actions", "add"),
        (("symlink", "{s}/{T}/lock", "{home}/.bashrc"), ("file", "{s}/{T}/.bait.tmp")),
    ),
    Attack(
        "index.lock -> canary",
        ("new", "delete"),
        (("symlink", "{data}/index.lock", "{home}/.profile"),),
    ),
    Attack(
        "index.lock -> canary, .tmp bait",
        ("list", "status", "export", "actions", "history", "add"),
        (("symlink", "{data}/index.lock", "{home}/.profile"), ("file", "{data}/.bait.tmp")),
    ),
    Attack(
        "presence lock -> canary",
        ("join", "view"),
        (("symlink", "{s}/{T}/presence/1.lock", "{home}/.ssh/authorized_keys"),),
    ),
    Attack(
        "presence folder -> canary",
        ("join", "view", "delete"),
        (("symlink", "{s}/{T}/presence", IMPORTANT),),
    ),
    Attack(
        "session.json -> canary",
        ("add", "status", "list", "export"),
        (("symlink", "{s}/{T}/session.json", "{home}/important/a.txt"),),
    ),
    Attack(
        "index.json -> canary",
        ("list", "new", "delete"),
        (("symlink", "{data}/index.json", "{home}/.profile"),),
    ),
    Attack(
        "session.json -> /dev/zero",
        ("list", "status", "history", "actions"),
        (("symlink", "{s}/{U}/session.json", "/dev/zero"),),
        heavy=True,
    ),
    Attack(
        ".tmp bait symlinks",
        ("add", "status", "list"),
        (
            ("symlink", "{s}/{T}/.bait.tmp", IMPORTANT),
            ("symlink", "{data}/.bait.tmp", "{home}/.bashrc"),
        ),
    ),
    Attack(
        "FIFO session.json (of U)",
        ("list", "actions", "history", "export", "status"),
        (("fifo", "{s}/{U}/session.json"),),
    ),
    Attack(
        "FIFO index.json", ("list", "new", "status", "delete"), (("fifo", "{data}/index.json"),)
    ),
    Attack("FIFO lock", ("add", "phase", "delete", "join"), (("fifo", "{s}/{T}/lock"),)),
    Attack(
        "FIFO index.lock, .tmp bait",
        ("list", "new", "delete", "status"),
        (("fifo", "{data}/index.lock"), ("file", "{data}/.bait.tmp")),
    ),
    Attack("FIFO presence lock", ("join", "view"), (("fifo", "{s}/{T}/presence/1.lock"),)),
    Attack(
        "socket session.json (of U)",
        ("list", "status", "history"),
        (("socket", "{s}/{U}/session.json"),),
    ),
    Attack("socket index.json", ("list", "new"), (("socket", "{data}/index.json"),)),
    Attack("socket lock", ("add", "delete"), (("socket", "{s}/{T}/lock"),)),
    Attack("socket presence lock", ("join", "view"), (("socket", "{s}/{T}/presence/1.lock"),)),
    Attack(
        "2 GiB session.json (of U)",
        ("list", "status", "history", "actions", "export"),
        (("huge", "{s}/{U}/session.json"),),
        heavy=True,
    ),
    Attack(
        "controls in stored text",
        ("list", "list --json", "status", "history", "export", "actions"),
        (("controls",),),
    ),
]

# -- the attacker -------------------------------------------------------------------------
# Runs as the attacker: only modules imported before the fork (the interpreter's files may
# be out of its reach), nothing printed (errors go back in the result).


def _put_in_place(temp: str, path: str) -> None:
    """TEMP takes PATH's name: a folder there is moved aside (it stays in the same folder,
    under a name no scan takes for a session), a file is replaced."""
    parent, name = os.path.split(path)
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            os.rename(path, os.path.join(parent, f".aside-{name}-{os.getpid()}"))
    os.rename(temp, path)


def _place(step: list, request: dict, n: int) -> None:
    kind = step[0]
    if kind == "controls":
        _controls(request)
        return
    path = step[1]
    parent = os.path.dirname(path)
    temp = os.path.join(parent, f".atk-{os.getpid()}-{n}")
    if kind == "symlink":
        os.symlink(step[2], temp)
    elif kind == "fifo":
        os.mkfifo(temp, 0o660)
    elif kind == "socket":
        os.chdir(parent)  # a relative name: a socket's path is limited to 107 bytes
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(os.path.basename(temp))
        sock.close()  # the socket file stays
    elif kind == "huge":
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o664)
        os.ftruncate(fd, HUGE_FILE)  # sparse: no disk is used
        os.close(fd)
    elif kind == "file":
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o664)
        os.write(fd, b"bait\n")
        os.close(fd)
    else:
        raise ValueError(f"unknown step {kind}")
    _put_in_place(temp, path)


def _rewrite(path: str, change: Callable[[dict], None]) -> None:
    with open(path, "rb") as handle:
        tables = json.loads(handle.read())
    change(tables)
    temp = path + f".atk-{os.getpid()}"
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(tables, ensure_ascii=False))
    os.rename(temp, path)


def _controls(request: dict) -> None:
    """Control characters into stored text: what a group member can write into any file."""

    def session(tables: dict) -> None:
        for row in tables.get("session", {}).values():
            row["title"] = PAYLOAD
        for table_name, fields in (
            ("complaints", ("text",)),
            ("actions", ("what", "owner", "metric")),
            ("participants", ("name",)),
            ("wins", ("text",)),
        ):
            for row in tables.get(table_name, {}).values():
                for name in fields:
                    if isinstance(row.get(name), str):
                        row[name] = f"{row[name]} {PAYLOAD}"

    def index(tables: dict) -> None:
        for row in tables.get("sessions", {}).values():
            row["title"] = PAYLOAD

    for code in request["codes"]:
        _rewrite(os.path.join(request["sessions"], code, "session.json"), session)
    _rewrite(os.path.join(request["data"], "index.json"), index)


def _asked_to_stop(conn: socket.socket) -> bool:
    return bool(select.select([conn], [], [], 0)[0])  # "stop", or the bench went away


def _swap(folder: str, target: str, aside: str) -> None:
    link = folder + f".link-{os.getpid()}"
    os.symlink(target, link)
    os.rename(folder, aside)
    os.rename(link, folder)


def _unswap(folder: str, aside: str) -> None:
    os.unlink(folder)
    os.rename(aside, folder)


def _race(conn: socket.socket, race: list, result: dict) -> None:
    """Swap a folder for a link while the victim runs. The folder may go (the victim
    deleted it): that ends the race, and is no error of the attacker's."""
    kind = race[0]
    until = time.monotonic() + RACE_LIMIT
    rng = random.Random(os.getpid())
    folder, target = race[-2], race[-1]
    parent, name = os.path.split(folder)
    aside = os.path.join(parent, f".aside-{name}-{os.getpid()}")
    swapped = False
    try:
        if kind == "swap-loop":
            while not _asked_to_stop(conn) and time.monotonic() < until:
                _swap(folder, target, aside)
                swapped = True
                result["swaps"] = result.get("swaps", 0) + 1
                time.sleep(rng.uniform(0, 0.001))  # a link for a moment
                _unswap(folder, aside)
                swapped = False
                time.sleep(rng.uniform(0, 0.003))  # the folder, mostly: the victim reads it
        elif kind == "swap-on-tmp":
            watched, prefix = race[1], race[2]
            while not _asked_to_stop(conn) and time.monotonic() < until:
                if result.get("swaps"):
                    time.sleep(0.005)
                    continue
                names = os.listdir(watched)
                if any(n.startswith(prefix) and n.endswith(".tmp") for n in names):
                    _swap(folder, target, aside)  # and left so
                    result["swaps"] = 1
                    continue
                os.sched_yield()
        else:
            raise ValueError(f"unknown race {kind}")
    except FileNotFoundError:
        result["gone"] = 1  # the victim took the folder away
    finally:
        if swapped:
            with contextlib.suppress(OSError):
                _unswap(folder, aside)


def _attack(conn: socket.socket, request: dict) -> None:
    """One attack, in a child of the attacker's process."""
    conn.sendall(f"pid {os.getpid()}".encode())
    result: dict = {"placed": 0, "errors": []}
    try:
        for n, step in enumerate(request["steps"]):
            _place(step, request, n)
            result["placed"] += 1
        if request.get("race"):
            conn.sendall(b"ready")
            _race(conn, request["race"], result)
    except BaseException as error:  # noqa: BLE001  (said to the bench, which counts it)
        result["errors"].append(repr(error))
    with contextlib.suppress(OSError):
        while select.select([conn], [], [], 0)[0] and conn.recv(1 << 16):
            pass  # "stop": read, so that closing this end loses nothing the bench has yet to read
        conn.sendall(("done " + json.dumps(result)).encode())
        # Until the bench has read it and closed its end (a socket closed with unread data
        # resets the other end, losing "done").
        while select.select([conn], [], [], PLACE_TIMEOUT)[0] and conn.recv(1 << 16):
            pass


def _serve(sock: socket.socket, uid: int | None, gid: int) -> None:
    """The attacker's process: one child per request, until the bench closes the socket."""
    os.setpgid(0, 0)  # a group of its own: the bench kills it and its children at once
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    if uid is not None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    os.umask(0o002)
    os.chdir("/")
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, 1 << 16, 1)
        except InterruptedError:
            continue
        if not message:
            return
        if os.fork() == 0:
            sock.close()
            conn = socket.socket(fileno=fds[0])
            try:
                _attack(conn, json.loads(message))
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)


class AttackTimeout(Exception):
    pass


class Attacker:
    """The bench's end of the attacker's process."""

    def __init__(self, uid: int | None, gid: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # no thread runs yet, so the child is whole
            ours.close()
            try:
                _serve(theirs, uid, gid)
            finally:
                os._exit(0)
        theirs.close()
        self.pid = pid
        self.sock = ours
        self.lock = threading.Lock()

    def start(self, request: dict) -> AttackRun:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with self.lock:
            socket.send_fds(self.sock, [json.dumps(request).encode()], [theirs.fileno()])
        theirs.close()
        return AttackRun(ours)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # its children too (a group of their own)
        self.sock.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


class AttackRun:
    """One attack under way: `pid`, then `ready` (a race), then `done RESULT`."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.result: dict | None = None  # its result, once it said it
        self.pid = int(self.expect("pid"))

    def expect(self, word: str, timeout: float = PLACE_TIMEOUT) -> str:
        if not select.select([self.conn], [], [], timeout)[0]:
            raise AttackTimeout(f"no '{word}' from the attacker in {timeout:g} s")
        message = self.conn.recv(1 << 16).decode()
        head, _, rest = message.partition(" ")
        if head == "done" and word != "done":  # it ended early: keep what it said
            self.result = json.loads(rest)
            raise AttackTimeout(f"the attack ended before '{word}'")
        if head != word:
            raise AttackTimeout(f"the attacker said {message[:200]!r}, not '{word}'")
        return rest

    def finish(self, stop: bool) -> dict:
        """Its result (told to stop first, for a race); killed if it does not end."""
        if self.result is not None:
            self.kill()
            return self.result
        try:
            if stop:
                with contextlib.suppress(OSError):
                    self.conn.sendall(b"stop")
            return json.loads(self.expect("done"))
        except (AttackTimeout, ValueError) as error:
            return {"placed": 0, "errors": [str(error)]}
        finally:
            self.kill()

    def kill(self) -> None:
        """Close our end and make sure it has ended: its end of the socket (held by it alone)
        closes when it has. Only one that keeps its end open past a timeout, and so is still
        alive under that pid, is sent SIGKILL."""
        if self.conn.fileno() < 0:
            return
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_WR)  # it reads the end of the conversation
        if not self._ended(PLACE_TIMEOUT):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGKILL)
            self._ended(PLACE_TIMEOUT)
        self.conn.close()

    def _ended(self, timeout: float) -> bool:
        until = time.monotonic() + timeout
        with contextlib.suppress(OSError):
            while select.select([self.conn], [], [], max(0.0, until - time.monotonic()))[0]:
                if not self.conn.recv(1 << 16):
                    return True
            return False
        return True  # reset: its end is closed


# -- canaries -----------------------------------------------------------------------------


def make_canaries(home: Path) -> None:
    home.mkdir(mode=0o700)
    os.chmod(home, 0o700)
    for folder in CANARY_FOLDERS:
        (home / folder).mkdir(mode=0o755)
    for name, text in CANARY_FILES.items():
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    os.chmod(home / ".ssh", 0o700)
    os.chmod(home / ".ssh/authorized_keys", 0o600)


def fingerprint(home: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under HOME (HOME included), never following a link or opening anything
    but a regular file."""
    found: dict[str, tuple[object, ...]] = {}

    def visit(path: Path, relative: str) -> None:
        st = os.lstat(path)
        kind = stat.S_IFMT(st.st_mode)
        what: object = None
        if stat.S_ISREG(st.st_mode):
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as handle:
                what = hashlib.sha256(handle.read(1 << 20)).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            what = os.readlink(path)
        found[relative] = (
            kind,
            stat.S_IMODE(st.st_mode),
            st.st_uid,
            st.st_gid,
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            what,
        )
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(path)):
                visit(path / name, f"{relative}/{name}" if relative else name)

    visit(home, "")
    return found


FIELDS = ("type", "mode", "owner", "group", "size", "mtime", "ctime", "content")


def changes(before: dict, after: dict) -> list[str]:
    said = []
    for name in sorted(set(before) | set(after)):
        shown = f"~/{name}" if name else "~"
        if name not in after:
            said.append(f"{shown} removed")
        elif name not in before:
            said.append(f"{shown} made")
        elif before[name] != after[name]:
            which = [
                f
                for f, old, new in zip(FIELDS, before[name], after[name], strict=True)
                if old != new
            ]
            said.append(f"{shown} changed ({' '.join(which)})")
    return said


# -- rounds -------------------------------------------------------------------------------


@dataclass
class Outcome:
    attack: str
    victim: str
    placed: bool = True
    swaps: int = -1  # a race's swaps (-1: not a race)
    exit: int | None = None
    seconds: float = 0.0
    peak: int = 0  # bytes of resident memory at most
    hung: bool = False
    traceback: bool = False
    raw: bool = False
    unexpected: bool = False
    canaries: list[str] = field(default_factory=list)
    said: str = ""  # the last line it printed
    attack_errors: list[str] = field(default_factory=list)

    @property
    def big(self) -> bool:
        return self.peak > BIG_MEMORY

    @property
    def ok(self) -> bool:
        return self.exit == 0 and not self.findings()

    def line(self) -> str:
        """The round in one line, in ASCII."""
        race = f" swaps {self.swaps}" if self.swaps >= 0 else ""
        placed = "" if self.placed else " NOT PLACED"
        found = ",".join(self.findings()) or "-"
        text = (
            f"{self.attack} / {self.victim}:{placed}{race} exit {self.exit} "
            f"{self.seconds:.1f} s {self.peak >> 20} MiB [{found}] {self.said[:120]}"
        )
        return text.encode("ascii", "backslashreplace").decode()

    def findings(self) -> list[str]:
        return [
            name
            for name, value in (
                ("canary", bool(self.canaries)),
                ("hung", self.hung),
                ("traceback", self.traceback),
                ("raw", self.raw),
                ("unexpected", self.unexpected),
                ("memory", self.big),
            )
            if value
        ]


def raw_controls(output: bytes) -> bool:
    """A C0 control but newline and tab, DEL, or a C1 control (UTF-8 or 8-bit)."""
    text = output.decode("utf-8", errors="surrogateescape")
    for ch in text:
        code = ord(ch)
        if code < 0x20 and ch not in "\n\t":
            return True
        if code == 0x7F or 0x80 <= code <= 0x9F:
            return True
        if 0xDC80 <= code <= 0xDC9F:  # a raw byte 0x80-0x9f that is not UTF-8
            return True
    return False


@dataclass
class Bench:
    base: Path
    template: Path
    env: dict[str, str]
    cmd: list[str]
    codes: dict[str, str]  # T, U -> code
    attacker: Attacker
    fac_uid: int
    gid: int
    deadline: float
    verbose: bool = False
    hung_after: float = HUNG_AFTER
    debug: bool = False  # victims print a traceback for every error
    lock: threading.Lock = field(default_factory=threading.Lock)
    heavy: threading.Lock = field(default_factory=threading.Lock)
    live: set[int] = field(default_factory=set)  # victims' process groups
    stop: threading.Event = field(default_factory=threading.Event)
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def paths(self, data: Path, home: Path) -> dict[str, str]:
        return {
            "data": str(data),
            "s": str(data / "sessions"),
            "home": str(home),
            "T": self.codes["T"],
            "U": self.codes["U"],
        }

    def round(self, number: int, attack: Attack, victim: str) -> None:
        if self.stop.is_set() or time.monotonic() >= self.deadline:
            return
        folder = self.base / "rounds" / f"{number:04d}"
        try:
            with self.heavy if attack.heavy else contextlib.nullcontext():
                outcome = self.play(folder, attack, victim)
            with self.lock:
                self.outcomes.append(outcome)
                if self.verbose:
                    print(f"  {number:4d} {outcome.line()}", flush=True)
        except Exception as error:  # a bug of the bench: counted, and the others go on
            with self.lock:
                self.errors.append(f"round {number} ({attack.name}, {victim}): {error!r}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # fd-based: follows no link inside

    def play(self, folder: Path, attack: Attack, victim: str) -> Outcome:
        folder.mkdir(mode=0o711)
        os.chmod(folder, 0o711)  # the attacker passes through to the data folder
        home, data = folder / "home", folder / "data"
        make_canaries(home)
        data.mkdir()
        os.chown(data, self.fac_uid, self.gid)
        os.chmod(data, 0o2770)
        shutil.copytree(self.template, data, symlinks=True, dirs_exist_ok=True)
        for path in [data, *data.rglob("*")]:
            os.lchown(path, self.fac_uid, self.gid)
        os.chmod(data, 0o2770)

        outcome = Outcome(attack.name, victim)
        before = fingerprint(home)
        run: AttackRun | None = None
        if attack.steps or attack.race:
            values = self.paths(data, home)
            request = {
                "steps": [[part.format(**values) for part in step] for step in attack.steps],
                "race": [part.format(**values) for part in attack.race] if attack.race else None,
                "data": values["data"],
                "sessions": values["s"],
                "codes": [self.codes["T"], self.codes["U"]],
            }
            run = self.attacker.start(request)
            if attack.race:
                try:
                    run.expect("ready")
                except AttackTimeout as error:
                    outcome.attack_errors.append(str(error))
            else:
                result = run.finish(stop=False)
                run = None
                outcome.attack_errors += result["errors"]
        try:
            self.victim(folder, data, victim, outcome)
        finally:
            if run is not None:
                result = run.finish(stop=True)
                outcome.attack_errors += result["errors"]
                outcome.swaps = result.get("swaps", 0)
        outcome.placed = not outcome.attack_errors
        outcome.canaries = changes(before, fingerprint(home))
        return outcome

    def victim(self, folder: Path, data: Path, name: str, outcome: Outcome) -> None:
        how, args = VICTIMS[name]
        args = tuple(self.codes.get(a, a) for a in args)
        if how == "cli":
            argv = [*self.cmd, *(["--debug"] if self.debug else []), *args]
        else:
            argv = [sys.executable, "-c", SERVICE_VICTIM, *args]
        env = dict(self.env, THERAPY_DATA_DIR=str(data))
        if self.debug:
            env["SHAREDHOST_DEBUG"] = "1"
        master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST  # bytes as the program wrote them (no \n -> \r\n)
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        output = bytearray()
        with self.lock:
            if self.stop.is_set():
                os.close(master)
                os.close(slave)
                raise RuntimeError("stopped")
            started = time.monotonic()
            proc = subprocess.Popen(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd=folder,
                start_new_session=True,
                umask=0o002,
            )
            self.live.add(proc.pid)
        os.close(slave)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            resource.prlimit(proc.pid, resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
        status, usage = None, None
        open_master = True
        try:
            while True:
                if open_master and select.select([master], [], [], 0.02)[0]:
                    try:
                        chunk = os.read(master, 1 << 16)
                    except OSError:  # EIO: every end of the slave is closed
                        chunk = b""
                    if chunk:
                        output += chunk
                    else:
                        open_master = False
                elif not open_master:
                    time.sleep(0.02)
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - started > self.hung_after:
                    outcome.hung = True
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    _, status, usage = os.wait4(proc.pid, 0)
                    break
            outcome.seconds = time.monotonic() - started
            while open_master and select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 1 << 16)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
        finally:
            os.close(master)
            with self.lock:
                self.live.discard(proc.pid)
            if status is None:  # interrupted while it ran
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        outcome.exit = proc.returncode
        outcome.peak = usage.ru_maxrss * 1024 if usage is not None else 0
        outcome.traceback = b"Traceback" in output
        outcome.unexpected = any(marker in output for marker in UNEXPECTED)
        outcome.raw = raw_controls(bytes(output))
        lines = bytes(output).decode(errors="replace").strip().splitlines()
        outcome.said = lines[-1][:200] if lines else ""

    def warm(self) -> dict[str, float]:
        """Each victim once, unattacked and with a minute to run: bytecode and the page
        cache warmed (a cold first `export` takes seconds), and each one's time."""
        self.hung_after, times = 60.0, {}
        try:
            for name in VICTIMS:
                folder = self.base / "rounds" / "warm"
                try:
                    outcome = self.play(folder, ATTACKS[0], name)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                if not outcome.ok:
                    raise SystemExit(f"{outcome.line()}: the victim fails with no attack")
                times[name] = outcome.seconds
        finally:
            self.hung_after = HUNG_AFTER
        return times

    def kill_all(self) -> None:
        self.stop.set()
        with self.lock:
            groups = list(self.live)
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def make_template(folder: Path, fac_uid: int, gid: int) -> dict[str, str]:
    """A data folder with U (earlier, in remedy, an action item) and T (check-in, a card,
    Kim joined once) of one pair, made by the facilitator through the service."""
    folder.mkdir()
    os.chown(folder, fac_uid, gid)
    os.chmod(folder, 0o2770)
    sessions = Sessions(Store(folder))
    earlier = (datetime.now(UTC) - timedelta(days=14)).isoformat(timespec="seconds")
    u = sessions.create("Earlier retro", SIDES, pair=PAIR, created=earlier).code
    sessions.add_complaint(u, "Sales", "Leads are not ready when they reach us")
    sessions.set_phase(u, "remedy")
    due = (date.today() + timedelta(days=30)).isoformat()
    sessions.add_action(u, "A weekly handoff call", "Alex", due, metric="calls held")
    t = sessions.create("Target retro", SIDES, pair=PAIR).code
    sessions.add_complaint(t, "Marketing", "Nobody follows up on our leads")
    kim = sessions.join(t, "Sales", "Kim", bound=True)
    sessions.attend(t, kim.id).close()
    if not (folder / "sessions" / t / "presence" / f"{kim.id}.lock").is_file() or kim.id != 1:
        raise SystemExit("the template has no presence/1.lock: the bench needs updating")
    return {"T": t, "U": u}


def attacker_user() -> tuple[int | None, int, str, bool]:
    """(uid or None, gid of the data folders, what to say, whether this run made the user)."""
    if os.geteuid() != 0:
        gid = os.getgid()
        return (
            None,
            gid,
            "not root, so no second user can be made (that needs root): the attacker runs as "
            f"you (uid {os.getuid()}, the same uid), with group {grp.getgrgid(gid).gr_name}",
            False,
        )
    made = False
    try:
        user = pwd.getpwnam(ATTACKER)
    except KeyError:
        shell = "/usr/sbin/nologin" if os.path.exists("/usr/sbin/nologin") else "/bin/false"
        done = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--user-group", "--shell", shell, ATTACKER],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(
                f"useradd {ATTACKER} failed ({done.returncode}): {done.stderr}"
            ) from None
        user = pwd.getpwnam(ATTACKER)
        made = True
    group = grp.getgrgid(user.pw_gid).gr_name
    return (
        user.pw_uid,
        user.pw_gid,
        f"attacker {ATTACKER} (uid {user.pw_uid}{', made by this run' if made else ''}) "
        f"against root; data folders 2770, group {group}",
        made,
    )


def remove_user() -> None:
    for argv in (["userdel", ATTACKER], ["groupdel", ATTACKER]):
        with contextlib.suppress(OSError):
            subprocess.run(argv, capture_output=True, timeout=30)


def schedule(rounds: int, seed: int) -> list[tuple[Attack, str]]:
    pairs = [(attack, victim) for attack in ATTACKS for victim in attack.victims]
    order: list[tuple[Attack, str]] = []
    number = 0
    while len(order) < rounds:
        shuffled = list(pairs)
        random.Random(seed * 1000 + number).shuffle(shuffled)
        order += shuffled
        number += 1
    return order[:rounds]


def by_attack(outcomes: list[Outcome]) -> None:
    columns = ("rounds", "placed", "ok", "refused", "canary", "hung", "tb", "raw", "unexp", "mem")
    width = max(len(a.name) for a in ATTACKS)
    print(f"\n{'attack':<{width}}" + "".join(f"  {c:>7}" for c in columns) + "    max s")
    for attack in ATTACKS:
        mine = [o for o in outcomes if o.attack == attack.name]
        values = (
            len(mine),
            sum(o.placed for o in mine),
            sum(o.ok for o in mine),
            sum(o.exit != 0 and not o.findings() for o in mine),
            sum(bool(o.canaries) for o in mine),
            sum(o.hung for o in mine),
            sum(o.traceback for o in mine),
            sum(o.raw for o in mine),
            sum(o.unexpected for o in mine),
            sum(o.big for o in mine),
        )
        longest = max((o.seconds for o in mine), default=0.0)
        print(
            f"{attack.name:<{width}}" + "".join(f"  {v:>7}" for v in values) + f"  {longest:7.1f}"
        )


def landed(outcomes: list[Outcome]) -> None:
    """Per attack, which victims showed which finding (rounds with it / rounds)."""
    print("\nwhere each attack landed (victim: finding rounds/rounds):")
    for attack in ATTACKS:
        mine = [o for o in outcomes if o.attack == attack.name]
        per: dict[str, Counter[str]] = defaultdict(Counter)
        tries: Counter[str] = Counter()
        for o in mine:
            tries[o.victim] += 1
            for finding in o.findings():
                per[finding][o.victim] += 1
        races = [o.swaps for o in mine if o.swaps >= 0]
        race = ""
        if races:
            fired = sum(1 for s in races if s > 0)
            race = f" [race fired in {fired}/{len(races)}, {sum(races)} swaps]"
        if not per:
            print(f"  {attack.name}: nothing{race}")
            continue
        said = "; ".join(
            f"{finding} " + ", ".join(f"{v} {n}/{tries[v]}" for v, n in sorted(victims.items()))
            for finding, victims in per.items()
        )
        print(f"  {attack.name}: {said}{race}")


def examples(outcomes: list[Outcome]) -> list[str]:
    """Per attack and kind of finding, the first round's: what changed, or what it said."""
    said: dict[tuple[str, str], str] = {}
    for o in outcomes:
        where = f"{o.attack} / {o.victim}"
        if not o.placed:
            said.setdefault(
                (o.attack, "placed"), f"{o.attack}: not placed: " + "; ".join(o.attack_errors)[:200]
            )
        if o.canaries:
            said.setdefault((o.attack, "canary"), f"{where}: " + ", ".join(o.canaries[:4]))
        if o.hung:
            said.setdefault((o.attack, "hung"), f"{where}: still running after 10 s")
        if o.traceback or o.unexpected or (o.attack == "none" and not o.ok):
            said.setdefault((o.attack, "said"), f"{where}: exit {o.exit}: {o.said}")
        if o.big and not o.unexpected:
            said.setdefault((o.attack, "big"), f"{where}: {o.peak >> 20} MiB, {o.seconds:.1f} s")
        if o.raw:
            said.setdefault((o.attack, "raw"), f"{where}: raw controls in: {o.said}")
    return list(said.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default: 2 passes)")
    parser.add_argument("--workers", type=int, default=4, help="rounds running at once")
    parser.add_argument("--time-limit", type=float, default=420.0, help="campaign seconds")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run: one pass")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--verbose", action="store_true", help="a line per round as it ends")
    parser.add_argument(
        "--attack",
        action="append",
        default=[],
        help="only the attacks whose name has this text (may be repeated; 'none' is kept)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="victims show a traceback for every error, refusals too (to see where one "
        "comes from: the counts are then not the campaign's)",
    )
    args = parser.parse_args()
    if args.attack:
        ATTACKS[1:] = [a for a in ATTACKS[1:] if any(t in a.name for t in args.attack)]
        if len(ATTACKS) == 1:
            raise SystemExit(f"no attack has {' or '.join(map(repr, args.attack))} in its name")
    pairs = sum(len(a.victims) for a in ATTACKS)
    if not args.rounds:
        args.rounds = pairs if args.quick else 2 * pairs

    uid, gid, who, made = attacker_user()
    old_umask = os.umask(0o002)
    # Forked before any thread, the base folder or therapy's first use.
    attacker = Attacker(uid, gid)
    signal.signal(signal.SIGTERM, interrupted)
    base = Path(tempfile.mkdtemp(prefix="therapy-bench-sharedhost-"))
    bench: Bench | None = None
    started = time.perf_counter()
    try:
        os.chmod(base, 0o711)
        (base / "rounds").mkdir(mode=0o711)
        os.chmod(base / "rounds", 0o711)
        fac_uid = os.getuid()
        codes = make_template(base / "template", fac_uid, gid)
        cmd, shown = therapy_command()
        env = environment(base / "pycache")
        bench = Bench(
            base=base,
            template=base / "template",
            env=env,
            cmd=cmd,
            codes=codes,
            attacker=attacker,
            fac_uid=fac_uid,
            gid=gid,
            deadline=time.monotonic() + args.time_limit,
            verbose=args.verbose,
            debug=args.debug,
        )
        print(
            f"sharedhost: {who}, umask 002; {shown} with therapy from "
            f"{Path(therapy.__file__).resolve().parent.parent}; {len(ATTACKS)} attacks x their "
            f"victims = {pairs} pairs, {args.rounds} rounds, {args.workers} workers, "
            f"seed {args.seed}; scratch {base}",
            flush=True,
        )
        warm = bench.warm()
        slowest = max(warm, key=warm.__getitem__)
        print(
            f"victims unattacked: {sorted(warm.values())[len(warm) // 2]:.2f} s median, "
            f"slowest {slowest} {warm[slowest]:.2f} s; hung past {HUNG_AFTER:g} s",
            flush=True,
        )
        plan = schedule(args.rounds, args.seed)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            futures = [
                pool.submit(bench.round, number, attack, victim)
                for number, (attack, victim) in enumerate(plan)
            ]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                bench.kill_all()
                for future in futures:
                    future.cancel()
                raise
        elapsed = time.perf_counter() - t0

        outcomes = bench.outcomes
        attacked = [o for o in outcomes if o.attack != "none"]
        baseline = [o for o in outcomes if o.attack == "none"]
        info: list[tuple[str, object, str]] = [
            ("rounds", len(outcomes), str(args.rounds)),
            ("victims ok", sum(o.ok for o in outcomes), ""),
            (
                "victims refused (one sentence)",
                sum(o.exit != 0 and not o.findings() for o in outcomes),
                "",
            ),
        ]
        table("campaign", info)
        goals = {
            "canaries changed": sum(bool(o.canaries) for o in outcomes),
            "hung past 10 s": sum(o.hung for o in outcomes),
            "tracebacks": sum(o.traceback for o in outcomes),
            "raw controls": sum(o.raw for o in outcomes),
            "unexpected errors": sum(o.unexpected for o in outcomes),
            "over 1 GiB of memory": sum(o.big for o in outcomes),
            "bench: victims failed with no attack": sum(not o.ok for o in baseline),
            "bench: attacks not placed": sum(not o.placed for o in attacked),
            "bench: errors": len(bench.errors),
        }
        table("checks", [(name, value, "0") for name, value in goals.items()])
        by_attack(outcomes)
        landed(outcomes)
        print(f"\ncampaign {elapsed:.1f} s, total {time.perf_counter() - started:.1f} s")
        for line in bench.errors[:3]:
            print(f"  error: {line}")
        for line in examples(outcomes)[:40]:
            print(f"  {line.encode('ascii', 'backslashreplace').decode()}")
        failed = [name for name, value in goals.items() if value]
        if len(outcomes) < args.rounds:
            failed.append(f"{len(outcomes)} of {args.rounds} rounds done")
        if failed:
            print(f"RESULT: FAILED ({', '.join(failed)})")
            return 1
        print("RESULT: ok")
        return 0
    finally:
        if bench is not None:
            bench.kill_all()
        attacker.close()
        os.umask(old_umask)
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
        if made:
            remove_user()


if __name__ == "__main__":
    run_campaign(main)
