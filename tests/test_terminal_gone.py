"""An app whose terminal goes away ends, and does not spin: a real `therapy join` (or
`facilitate`) on a pty whose reader stops reading while cards are added (the app's writes
block, and then its event loop waits on them), then whose master is closed with no hangup
signal reaching the app.

Measured before the fix: such an app stayed alive at 100 % of a core (its input thread read
end-of-file in a loop, its output thread had died on EIO), for as long as nobody killed it.
"""

from __future__ import annotations

import fcntl
import os
import platform
import signal
import subprocess
import sys
import termios
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from ssh_support import therapy_script, wait_until

from therapy.service import Sessions

# the numbers of write(2) and futex(2), as /proc/PID/task/TID/syscall shows a blocked call
WRITE, FUTEX = {"x86_64": (1, 202), "aarch64": (64, 98)}.get(platform.machine(), (-1, -1))
pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or WRITE < 0, reason="reads the app's threads in Linux's /proc"
)

SIZE = (36, 120)  # rows, columns
SECONDS = 15  # to draw the first frame, and to end once the terminal has gone
SPUN = 3.0  # seconds of CPU after the terminal went: a loop, not a way out
CARDS = 60  # added at most while waiting for the app to be stuck on its terminal
STUCK = 3  # cards in a row after which it is seen stuck


class Pty:
    """A terminal as a terminal emulator (or sshd) gives it: a pty of a set size, the app in
    a session of its own. `controlling`: the pty is that session's controlling terminal,
    which the kernel hangs up (SIGHUP) when the master closes; `hangup`: the app does not
    ignore that signal. Unless both hold, no signal tells the app its terminal is gone."""

    def __init__(self, argv: list[str], env: dict[str, str], controlling: bool, hangup: bool):
        self.master: int | None
        self.master, slave = os.openpty()
        termios.tcsetwinsize(self.master, SIZE)

        def as_a_terminal_gives_it() -> None:  # in the child, after its setsid()
            if controlling:
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            if not hangup:
                signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup does: kept over exec

        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=as_a_terminal_gives_it,
        )
        os.close(slave)  # the app holds the only slave; the test, the only master
        self.shown = b""

    def read_until(self, text: bytes) -> None:
        def seen() -> bool:
            assert self.master is not None
            with suppress(BlockingIOError):
                os.set_blocking(self.master, False)
                self.shown += os.read(self.master, 65536)
            return text in self.shown

        wait_until(seen, SECONDS, lambda: f"{text!r} not drawn; the app wrote {self.shown!r}")

    def stuck(self) -> bool:
        """The app's output thread is blocked in write(2) to the terminal (fd 1 or 2), and its
        main thread, the event loop, waits (on a futex) for room in that thread's queue."""
        calls = {}  # thread id: the system call it is in, and its first argument
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            with suppress(OSError, ValueError):  # a thread that ended, or one running
                number, first = (task / "syscall").read_text().split()[:2]
                calls[int(task.name)] = (int(number), int(first, 16))
        writing = any(call in ((WRITE, 1), (WRITE, 2)) for call in calls.values())
        return writing and calls.get(self.process.pid, (0, 0))[0] == FUTEX

    def cpu_seconds(self) -> float:
        """User and system time of the app, all its threads (fields 14 and 15 of stat)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close_master(self) -> None:
        """The terminal goes: its end of the pty is closed, and nothing else is done."""
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def stop(self) -> None:
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(SECONDS)
        self.close_master()


@contextmanager
def app_on_pty(data_dir: Path, args: list[str], controlling: bool, hangup: bool) -> Iterator[Pty]:
    env = dict(os.environ, THERAPY_DATA_DIR=str(data_dir), TERM="xterm-256color")
    pty = Pty([str(therapy_script()), *args], env, controlling, hangup)
    try:
        yield pty
    finally:
        pty.stop()


def add_card(data_dir: Path, code: str, number: int) -> None:
    """Another person adds a card from the shell: the app redraws to show it."""
    text = f"Leads arrive cold, case {number}"
    subprocess.run(
        [str(therapy_script()), "add", code, text, "--side", "Sales"],
        env=dict(os.environ, THERAPY_DATA_DIR=str(data_dir)),
        check=True,
        capture_output=True,
        timeout=SECONDS,
    )


TERMINALS = {
    "its controlling terminal, hung up": (True, True),
    "its controlling terminal, the hangup ignored": (True, False),
    "no controlling terminal": (False, True),
}


@pytest.mark.parametrize(("controlling", "hangup"), list(TERMINALS.values()), ids=list(TERMINALS))
@pytest.mark.parametrize("role", ["participant", "facilitator"])
def test_an_app_whose_terminal_went_away_while_its_writes_blocked_ends(
    data_dir: Path, sessions: Sessions, code: str, controlling: bool, hangup: bool, role: str
) -> None:
    if role == "participant":
        args, drawn = ["join", code, "--name", "Alex", "--side", "Sales"], b"Alex"
    else:
        args, drawn = ["facilitate", code], b"handoff"
    with app_on_pty(data_dir, args, controlling, hangup) as pty:
        pty.read_until(drawn)  # the first frame: from here on nobody reads the terminal
        if role == "participant":
            wait_until(lambda: sessions.present(code) != set(), SECONDS, lambda: "not present")
        stuck = 0  # cards in a row after which the app was seen stuck: a busy moment is not
        for number in range(CARDS):
            add_card(data_dir, code, number)
            stuck = stuck + 1 if pty.stuck() else 0
            if stuck == STUCK:
                break
        assert stuck == STUCK, f"{CARDS} cards added, and the app never got stuck on its terminal"
        assert pty.process.poll() is None
        before = pty.cpu_seconds()

        pty.close_master()

        def ended() -> bool:
            if pty.process.poll() is not None:
                return True
            spent = pty.cpu_seconds() - before
            assert spent < SPUN, f"the app spun: {spent:.1f} s of CPU since its terminal went"
            return False

        wait_until(ended, SECONDS, lambda: "the app still runs with its terminal gone")
    assert sessions.present(code) == set()  # the participant's presence went with the app
