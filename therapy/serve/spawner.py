"""The warm spawner: one process per `therapy serve` that has imported the app already and
forks a copy of itself for each connection, so that a connection's app starts with its
imports done instead of from a fresh interpreter (each paid 0.26 s of CPU for them, more than
half of its way to the first frame: 40 people joining at once waited on 2 cores for that).

Each connection is still its own process, killed when the connection goes: the child of a fork
is the app, in a session of its own on the connection's pty. Only serve can ask for one: the
requests come over the socket pair serve made and handed to this process at its start (no
name in the filesystem, nothing another user could connect to), one SEQPACKET message each,
so that the kernel keeps the boundaries and the pty's descriptor (SCM_RIGHTS) travels with
its own request. A request is JSON, {"args": [...], "env": {...}}: the command line of
`therapy` (its `door`) and the app's whole environment. Every request is answered, in order,
{"started": PID} or {"refused": WHY}; each child's end comes as {"ended": PID, "status": S}
once it is reaped. End of file on the socket (serve stopped, or was killed) ends the
spawner: its apps are told (SIGHUP), killed after SERVE_HANGUP_SECONDS, reaped.

The spawner is single-threaded (a fork copies only the thread that forks, and any lock
another held stays held in the child) and holds nothing of the data folder open: what a
child must not share (the store's files, the app's threads) is made after the fork. Python's
`random` reseeds in a child by itself; ids and codes come from os.urandom.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import gc
import json
import os
import select
import signal
import socket
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from therapy.limits import SERVE_HANGUP_SECONDS

REQUEST_BYTES = 64 * 1024  # a request's most; a door's arguments and environment take < 2 KiB
MOST_ITEMS = 64  # arguments, or environment variables, in one request
ANSWER_BYTES = 1024  # an answer's most (serve reads them with this size)
ROOM_VARIABLE = "THERAPY_SPAWNER_ROOM"  # see show_environment
_PR_SET_NAME = 15
_libc = ctypes.CDLL(None, use_errno=True)


class Refused(Exception):
    """A request that is not run: no fork, and its descriptor closed."""


def run(socket_fd: int, main: Callable[[], object], argv0: str) -> None:
    """Serve requests on SOCKET_FD until serve's end closes: each child runs MAIN (the CLI's
    main, reading sys.argv = [ARGV0, *args]) and never returns here. Call with the imports
    done, from the only thread."""
    if threading.active_count() != 1:
        raise RuntimeError("the spawner must have one thread only, to fork safely")
    gc.collect()
    gc.freeze()  # what the imports made is never scanned again: a child's pages stay shared
    _name(b"therapy-spawner")
    sock = socket.socket(fileno=socket_fd)
    Loop(sock, main, argv0).serve()


class Loop:
    """The loop: a request forks a child, a SIGCHLD reaps it; both are said to serve."""

    def __init__(self, sock: socket.socket, main: Callable[[], object], argv0: str) -> None:
        self.sock = sock
        self.main = main
        self.argv0 = argv0
        self.children: set[int] = set()
        self.wake, self.woken = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def serve(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # serve's Ctrl+C is serve's to act on
        signal.signal(signal.SIGCHLD, lambda number, frame: None)
        signal.set_wakeup_fd(self.woken)  # a SIGCHLD wakes the select below
        try:
            self.say({"ready": True})
            while True:
                readable, _, _ = select.select([self.sock.fileno(), self.wake], [], [])
                if self.wake in readable:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self.wake, 512):
                            pass
                    self.reap()
                if self.sock.fileno() in readable and not self.request():
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass  # serve is gone
        finally:
            self.end()

    def say(self, answer: dict[str, Any]) -> None:
        self.sock.send(json.dumps(answer).encode())  # blocking: serve reads as they come

    def request(self) -> bool:
        """Run one request, or refuse it; False at the end of serve's end."""
        try:
            data, fds, flags, _ = socket.recv_fds(self.sock, REQUEST_BYTES, 1)
        except ConnectionResetError:
            return False
        if not data and not fds:
            return False
        try:
            if flags & socket.MSG_TRUNC:
                raise Refused(f"a request takes at most {REQUEST_BYTES} bytes")
            if flags & socket.MSG_CTRUNC or len(fds) != 1:
                raise Refused("a request brings one terminal, the pty's slave")
            args, env = parse_request(data)
        except Refused as refusal:
            for fd in fds:
                os.close(fd)
            self.say({"refused": str(refusal)})
            return True
        self.fork(args, env, fds[0])
        return True

    def fork(self, args: list[str], env: dict[str, str], terminal: int) -> None:
        try:
            pid = os.fork()
        except OSError as error:
            os.close(terminal)
            self.say({"refused": f"no process for the app ({error.strerror})"})
            return
        if pid == 0:
            child(self.main, [self.argv0, *args], env, terminal, self.sock)
        os.close(terminal)
        self.children.add(pid)
        self.say({"started": pid})

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            with contextlib.suppress(OSError):
                self.say({"ended": pid, "status": os.waitstatus_to_exitcode(status)})

    def end(self) -> None:
        """serve is gone (its ptys with it): every app is told, then killed; all reaped."""
        for number in (signal.SIGHUP, signal.SIGKILL):
            for pid in self.children:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, number)  # each is its session's leader: the group is pid
            deadline = time.monotonic() + SERVE_HANGUP_SECONDS
            while self.children and time.monotonic() < deadline:
                self.reap()
                time.sleep(0.05)
            if not self.children:
                break
        self.sock.close()


def parse_request(data: bytes) -> tuple[list[str], dict[str, str]]:
    """The arguments and the environment of a request; Refused if it is not one."""
    try:
        request = json.loads(data)
    except ValueError:
        raise Refused("a request is JSON") from None
    if not isinstance(request, dict) or set(request) != {"args", "env"}:
        raise Refused('a request is {"args": [...], "env": {...}}')
    args, env = request["args"], request["env"]
    if not isinstance(args, list) or not 0 < len(args) <= MOST_ITEMS:
        raise Refused(f"a request's args are a list of 1 to {MOST_ITEMS} strings")
    if not isinstance(env, dict) or len(env) > MOST_ITEMS:
        raise Refused(f"a request's env maps at most {MOST_ITEMS} names to strings")
    names = [name for name in env if name and "=" not in name]
    if len(names) != len(env) or not all(_plain(text) for text in [*args, *env, *env.values()]):
        raise Refused("a request's strings are text without NUL, and names without '='")
    return args, env


def _plain(text: object) -> bool:
    if not isinstance(text, str) or "\0" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate from JSON's \ud800
        return False
    return True


# -- the child --------------------------------------------------------------------------------


def child(
    main: Callable[[], object],
    argv: list[str],
    env: dict[str, str],
    terminal: int,
    sock: socket.socket,
) -> NoReturn:
    """The app: a session of its own on TERMINAL, its only descriptors, and ENV and ARGV as
    an exec'd `therapy` would have them; MAIN runs and the process ends with its status,
    whatever happens (never back in the spawner's loop, never a traceback on the screen)."""
    status = 1
    try:
        become_app(argv, env, terminal, sock)
        status = 0
        try:
            main()
        except SystemExit as ended:
            status = _exit_status(ended.code)
        except KeyboardInterrupt:
            status = 130
        _finish()
    except BaseException as error:  # noqa: BLE001 (whatever it is, the child ends here)
        with contextlib.suppress(BaseException):
            said = f"therapy could not run the app ({type(error).__name__}: {error}).\n"
            os.write(2, said.encode(errors="replace"))
        status = 1
    finally:
        os._exit(status)


def become_app(argv: list[str], env: dict[str, str], terminal: int, sock: socket.socket) -> None:
    signal.set_wakeup_fd(-1)
    for number in (signal.SIGCHLD, signal.SIGHUP, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sock.detach()  # closed below by its number: the object must never close a reused one
    os.setsid()
    fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(terminal, target)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the spawner's socket, its pipe, the pty's copy
    # Python's standard streams over the pty, as at the start of a process on a terminal
    for stream in (sys.__stdin__, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.reconfigure(line_buffering=True)
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
    os.environ.clear()
    os.environ.update(env)
    show_environment(env)
    sys.argv = argv
    _name(b"therapy-door")


def show_environment(env: dict[str, str]) -> None:
    """Write ENV where /proc/PID/environ reads it, as an exec would have.

    That file (`ps e`, and whoever finds serve's apps by THERAPY_DATA_DIR, our tests too)
    shows the memory a process's environment was exec'd into, which a fork inherits: every
    app would show the spawner's. Once os.environ is replaced, nothing points into that
    memory any more (setenv copies), so it is overwritten in place, the rest zeroed; serve
    starts the spawner with room to spare (ROOM_VARIABLE). Nothing is written if ENV does
    not fit or the kernel does not say where the memory is."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path("/proc/self/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        start, end = int(fields[47]), int(fields[48])  # env_start, env_end: fields 50, 51
        block = b"".join(f"{name}={value}".encode() + b"\0" for name, value in env.items())
        if 0 < start < end and len(block) <= end - start:
            ctypes.memmove(start, block.ljust(end - start, b"\0"), end - start)


def _finish() -> None:
    """What an interpreter does at its end, which os._exit skips: the threads' shutdown (an
    executor's idle workers told, the threads that are not daemons waited for), the exit
    functions, the standard streams flushed."""
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _exit_status(code: object) -> int:
    """SystemExit's code as the interpreter turns it into a status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        print(code, file=sys.stderr)
    return 1


def _name(name: bytes) -> None:
    """The process's name in `ps`, `top` (15 bytes at most): its command line is the
    spawner's, which every child keeps."""
    _libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name[:15]), 0, 0, 0)
