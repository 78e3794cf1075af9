"""A real sshd on 127.0.0.1 and a private tmux server, for end-to-end tests of `therapy ssh`.

The sshd runs as the current user with its own host key, config and authorized_keys in a
temporary folder; tmux runs on its own socket (never a developer's server), so a pane's
screen can be read with capture-pane. Every wait is bounded, and everything started here
is stopped by its process id.
"""

from __future__ import annotations

import getpass
import itertools
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL = "Debian/Ubuntu: apt-get install openssh-server openssh-client tmux"


def sshd_path() -> str | None:
    """sshd must be started by its absolute path (it re-executes itself)."""
    found = shutil.which("sshd")
    if found:
        return os.path.abspath(found)
    for candidate in ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def require_tools() -> None:
    """Skip without sshd, ssh, ssh-keygen or tmux, except in CI, where it is a failure."""
    missing = [name for name in ("ssh", "ssh-keygen", "tmux") if shutil.which(name) is None]
    if sshd_path() is None:
        missing.insert(0, "sshd")
    if not missing:
        return
    message = f"the SSH end-to-end tests need {', '.join(missing)} ({INSTALL})"
    if in_ci():
        pytest.fail(f"{message}; .ci/run installs them, and CI must not skip these tests")
    pytest.skip(message)


def in_ci() -> bool:
    """CI=true: a test that cannot run there fails rather than skips."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def therapy_script() -> Path:
    """The console script of the environment running the tests (sshd's PATH lacks it)."""
    script = Path(sys.executable).parent / "therapy"
    if not script.exists():
        pytest.fail(f"no therapy command next to {sys.executable}; pip install -e '.[test]'")
    return script


def keygen(path: Path) -> str:
    """A new ed25519 key pair without a passphrase; returns the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "therapy-test", "-f", str(path)],
        check=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    return path.with_suffix(".pub").read_text().strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], seconds: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:g} s in vain: {what()}")
        time.sleep(0.05)


@dataclass
class Sshd:
    folder: Path  # holds the clients' private keys, by name
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def client(
        self,
        command: str | None = None,
        tty: bool = True,
        key: str | Path = "client",
        user: str = "",
    ) -> list[str]:
        """The ssh command line of a person connecting with the private key `key` (a name
        in the folder, or a path)."""
        argv = [
            "ssh",
            "-F",
            "/dev/null",  # no user or system client config
            "-tt" if tty else "-T",
            "-p",
            str(self.port),
            "-i",
            str(self.folder / key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=10",
            f"{user}@127.0.0.1" if user else "127.0.0.1",
        ]
        return argv if command is None else [*argv, command]

    def log_tail(self) -> str:
        with suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        return ""


@contextmanager
def running_sshd(
    folder: Path, keys: str | Mapping[str, str], settings: Sequence[str] = ()
) -> Iterator[Sshd]:
    """sshd as the current user, accepting new client keys: `keys` maps each key's name to
    its authorized_keys options (e.g. restrict,pty,command="..."); a string is the options
    of one key named "client"."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(keys, str):
        keys = {"client": keys}
    lines = [f"{options} {keygen(folder / name)}".strip() for name, options in keys.items()]
    (folder / "authorized_keys").write_text("\n".join(lines) + "\n")
    with loopback_sshd(
        folder,
        [
            f"AuthorizedKeysFile {folder / 'authorized_keys'}",
            f"AllowUsers {getpass.getuser()}",
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "LogLevel INFO",
            *settings,  # last: a Match block runs to the end of the file
        ],
    ) as sshd:
        yield sshd


def sshd_config(folder: Path, settings: Sequence[str], port: int = 22) -> Path:
    """folder/sshd_config: 127.0.0.1:`port`, the folder's host key and pid file, then
    `settings`."""
    config = folder / "sshd_config"
    lines = [
        "ListenAddress 127.0.0.1",
        f"Port {port}",
        f"HostKey {folder / 'host_key'}",
        f"PidFile {folder / 'sshd.pid'}",
        *settings,
    ]
    config.write_text("\n".join(lines) + "\n")
    return config


def check_sshd_config(config: Path, *options: str) -> str:
    """sshd -t on `config` (or sshd with `options` instead of -t, like -T -C user=retro):
    what it prints; fails if sshd rejects the config."""
    sshd = sshd_path()
    assert sshd is not None
    while True:
        check = subprocess.run(
            [sshd, *(options or ["-t"]), "-f", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        missing = re.search(r"Missing privilege separation directory: (\S+)", check.stderr)
        if not (missing and os.geteuid() == 0 and not os.path.isdir(missing[1])):
            break
        # sshd started as root wants its (empty) chroot folder; systemd makes it at boot
        os.makedirs(missing[1], mode=0o755, exist_ok=True)
    if check.returncode != 0:
        raise AssertionError(f"sshd rejects its test config: {check.stderr.strip()}")
    return check.stdout


@contextmanager
def loopback_sshd(folder: Path, settings: Sequence[str]) -> Iterator[Sshd]:
    """sshd -D on a free port of 127.0.0.1, with a new host key and `settings`."""
    sshd = sshd_path()
    assert sshd is not None
    keygen(folder / "host_key")
    log = folder / "sshd.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        for _attempt in range(5):
            port = free_port()
            config = sshd_config(folder, settings, port)
            check_sshd_config(config)
            with log.open("wb") as errors:
                process = subprocess.Popen(
                    [sshd, "-D", "-e", "-f", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    start_new_session=True,  # its own process group, stopped as one
                )
            deadline = time.monotonic() + 10
            while process.poll() is None and time.monotonic() < deadline:
                if "Server listening on" in log.read_text(errors="replace"):
                    break
                time.sleep(0.02)
            else:
                if process.poll() is None:
                    raise AssertionError(f"sshd did not start within 10 s:\n{log.read_text()}")
                if "Address already in use" in log.read_text(errors="replace"):
                    continue  # another program took the port meanwhile: another one
                raise AssertionError(f"sshd stopped at start:\n{log.read_text()}")
            yield Sshd(folder, port, log, process)
            return
        raise AssertionError("no free port for sshd after 5 tries")
    finally:
        if process is not None:
            _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def stop_processes_with(marker: str) -> list[int]:
    """End the processes (of this user) whose environment holds `marker`, e.g. the
    THERAPY_DATA_DIR of one test: the commands sshd ran, which live in their own session."""
    needle = marker.encode()
    stopped: list[int] = []
    if not Path("/proc").is_dir():
        return stopped  # no /proc (macOS): they end with their connection
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            with suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
                stopped.append(int(entry.name))
    return stopped


_servers = itertools.count()


class Tmux:
    """One tmux server on a socket of its own. A pane's screen stays readable after its
    program ended (remain-on-exit), and its exit status is written to a file: some
    kernels (gVisor sandboxes, for one) leave tmux with an unreaped child, so
    #{pane_dead} alone cannot be trusted to turn 1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = f"therapy-test-{os.getpid()}-{next(_servers)}"
        self.config = folder / "tmux.conf"
        self.config.write_text(
            "set -g remain-on-exit on\nset -g status off\nset -sg escape-time 10\n"
        )
        self.env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        self.env.setdefault("LANG", "C.UTF-8")

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=15,
            env=self.env,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def _status(self, name: str) -> Path:
        return self.folder / f"{name}.status"

    def start(self, name: str, argv: Sequence[str], width: int = 120, height: int = 36) -> None:
        status = shlex.quote(str(self._status(name)))
        command = f"{shlex.join(argv)}; echo $? > {status}.new && mv {status}.new {status}"
        self.run("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), command)

    def screen(self, name: str, scrolled: bool = False) -> str:
        """What the pane shows; `scrolled`: with the lines scrolled off its top (tmux's
        'Pane is dead' line scrolls the screen up by one)."""
        return self.run("capture-pane", "-p", "-t", name, *(["-S", "-"] if scrolled else []))

    def keys(self, name: str, *keys: str) -> None:
        """Keys by tmux name (Enter, C-n, End...). A key bound in the app runs at once,
        while typed letters queue at the focused widget: wait for typed text to show
        before pressing a key that uses it."""
        self.run("send-keys", "-t", name, *keys)

    def type(self, name: str, text: str, seconds: float = 10) -> str:
        """Type `text` into the focused field and wait until it shows. Letters typed in
        the instant after focus moves (a new form, tab) can reach the widget that had it
        and be lost: then the field is cleared (ctrl+u) and the text typed again."""
        deadline = time.monotonic() + seconds
        while True:
            self.run("send-keys", "-t", name, "-l", text)
            try:
                return self.wait_for(name, lambda shown: text in shown, f"typed {text!r}", 1)
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                self.run("send-keys", "-t", name, "C-u")

    def ended(self, name: str) -> int | None:
        """The exit status of the pane's program once it ended, else None."""
        try:
            return int(self._status(name).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def wait_for(
        self, name: str, check: Callable[[str], bool], what: str, seconds: float = 10
    ) -> str:
        """Poll the pane's screen until `check` holds; fail with the screen if it never does."""
        shown = ""

        def holds() -> bool:
            nonlocal shown
            shown = self.screen(name)
            return check(shown)

        wait_until(holds, seconds, lambda: f"{what}; the screen shows:\n{shown}")
        return shown

    def wait_ended(self, name: str, seconds: float = 10) -> int:
        wait_until(
            lambda: self.ended(name) is not None,
            seconds,
            lambda: f"{name} still running; the screen shows:\n{self.screen(name)}",
        )
        status = self.ended(name)
        assert status is not None
        return status

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"],
            capture_output=True,
            timeout=15,
            env=self.env,
            stdin=subprocess.DEVNULL,
        )
        # tmux removes its socket on the way out, but not everywhere (gVisor): no litter
        folder = Path(self.env.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (folder / self.socket).unlink(missing_ok=True)


@contextmanager
def tmux_server(folder: Path) -> Iterator[Tmux]:
    tmux = Tmux(folder)
    try:
        yield tmux
    finally:
        tmux.kill()
