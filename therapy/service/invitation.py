"""What people need to join a session: the doors a running `therapy serve` recorded for its
data folder, and the text to paste into a chat. `therapy invite` and the facilitator's app
both read it here; serve writes the record (therapy/serve/doors.py).

The record, DATA/serve/doors.json, is held under an exclusive flock by the serve that wrote
it, for as long as it runs: the kernel lets go of the lock when that process ends, however
it ends, so a record nobody holds is stale (a serve killed before it could forget it), and
so is one whose pid is gone. Nothing in it is trusted: a link, a FIFO, a file of another
user, a file with a second name (a hard link) or a huge one is damage, named and never
followed, and so is a serve folder that is not the user's own, private to them (0700, as
serve makes it: in a data folder shared with a group, a member could make it first and put
a record of theirs in it); every field is checked.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shlex
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from therapy.store.files import Folder, StoreError, damaged, not_ours, opened
from therapy.text import clean_line, shown, strip_controls

if TYPE_CHECKING:
    from therapy.service import Sessions

SERVE_FOLDER = "serve"
RECORD = "doors.json"
RECORD_BYTES = 16 * 1024  # a record is a few hundred bytes: anything larger is damage
WHAT = "therapy serve's record of its doors"
NO_SERVE = (
    "No therapy serve runs for this data folder, so only people on this host can join: "
    "start one with 'therapy serve' (people anywhere then join with one ssh line) and "
    "invite again."
)

# What people type: a host name, an IPv4 or IPv6 address (with its zone); a web address
# of printable ASCII; the host key's SHA-256 fingerprint as OpenSSH shows it.
HOST_NAME = re.compile(r"[A-Za-z0-9._:%-]{1,253}")
WEB_URL = re.compile(r"https?://[!-~]{1,2000}")
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


@dataclass(frozen=True)
class DoorsRecord:
    """The doors of one running serve, as the people it serves reach them."""

    host: str  # as people type it after `ssh`
    port: int
    fingerprint: str  # the host key's, e.g. SHA256:...
    web: str | None = None  # the browser door's address, when it is open
    pid: int = field(default_factory=os.getpid)

    def problem(self) -> str | None:
        """What is wrong with this record, or None."""
        if not isinstance(self.host, str) or not HOST_NAME.fullmatch(self.host):
            return "its host is not a host name or address"
        if type(self.port) is not int or not 0 < self.port < 65536:
            return "its port is not a number from 1 to 65535"
        if not isinstance(self.fingerprint, str) or not _FINGERPRINT.fullmatch(self.fingerprint):
            return "its fingerprint is not a SHA256 fingerprint"
        if self.web is not None and (
            not isinstance(self.web, str) or not WEB_URL.fullmatch(self.web)
        ):
            return "its web address is not an http or https address"
        if type(self.pid) is not int or self.pid <= 0:
            return "its pid is not a process id"
        return None

    def payload(self) -> bytes:
        problem = self.problem()
        if problem is not None:
            raise ValueError(f"A record of serve's doors whose {problem.removeprefix('its ')}.")
        return json.dumps(asdict(self), indent=2).encode() + b"\n"

    def ssh(self, command: str) -> str:
        """The line that runs COMMAND (a code, `watch CODE`) through the SSH door."""
        return ssh_line(self.host, self.port, command)


def ssh_line(host: str, port: int, command: str) -> str:
    """The line people type to run COMMAND through the SSH door. -t: OpenSSH gives a
    command no terminal unless asked, and the app needs one."""
    return f"ssh -t {'' if port == 22 else f'-p {port} '}{host} {command}"


def decode(payload: bytes, path: Path) -> DoorsRecord:
    """A record from its file's bytes; anything but a whole, sane record is damage."""
    try:
        fields: Any = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise damaged(path, "it is not JSON") from None
    names = {"host", "port", "fingerprint", "web", "pid"}
    if not isinstance(fields, dict) or set(fields) != names:
        raise damaged(path, "it is not JSON of the record's shape")
    record = DoorsRecord(**fields)
    problem = record.problem()
    if problem is not None:
        raise damaged(path, problem)
    return record


def read_doors(data_dir: Path) -> DoorsRecord | None:
    """The doors of the serve running for this data folder; None when none runs."""
    if not data_dir.is_dir():
        return None  # no data folder yet: nothing has been served from it
    try:
        with Folder.root(data_dir) as root, opened(root.folder(SERVE_FOLDER)) as serve:
            if serve is None:
                return None
            _check_private(serve)
            fd = serve.open_file(RECORD, os.O_RDONLY, WHAT)
            if fd is None:
                return None
            with os.fdopen(fd, "rb") as file:
                return _held_record(file, serve.path / RECORD)
    except OSError as error:
        raise StoreError(
            f"Cannot read {WHAT} in {shown(data_dir / SERVE_FOLDER, 200)} ({error.strerror})."
        ) from None


def _check_private(serve: Folder) -> None:
    """Serve's folder, as opened: the user's own and private to them, as serve makes it."""
    found = os.fstat(serve.fd)
    if found.st_uid != os.geteuid():
        raise not_ours(serve.path, "a folder of another user", "serve's own, private folder")
    if stat.S_IMODE(found.st_mode) & 0o077:
        mode = f"a folder others may open (mode {stat.S_IMODE(found.st_mode):04o})"
        raise not_ours(serve.path, mode, "serve's own folder, private to you (0700)")


def _held_record(file: BinaryIO, path: Path) -> DoorsRecord | None:
    """The record in FILE if its serve holds it; None if it is stale."""
    fd = file.fileno()
    found = os.fstat(fd)
    if found.st_uid != os.geteuid():
        raise not_ours(path, "a file of another user", WHAT)
    if found.st_nlink != 1:
        raise not_ours(path, "a file with another name too (a hard link)", WHAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        pass  # held: its serve runs
    else:
        return None  # nobody holds it: its serve ended without forgetting it
    size = os.fstat(fd).st_size
    if size > RECORD_BYTES:
        raise damaged(path, f"it is {size:,} bytes, over the {RECORD_BYTES:,} allowed")
    payload = file.read(RECORD_BYTES + 1)
    if len(payload) > RECORD_BYTES:
        raise damaged(path, f"it is over the {RECORD_BYTES:,} bytes allowed")
    record = decode(payload, path)
    return record if _alive(record.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError as error:
        return error.errno == errno.EPERM  # someone's process: it is there
    return True


# -- the text --------------------------------------------------------------------------------


def invitation_text(code: str, doors: DoorsRecord, title: str | None = None) -> str:
    """The lines to paste into a chat (Slack, Teams, email): plain text, one idea a line."""
    named = f' "{clean_line(title)}"' if title and clean_line(title) else ""
    lines = [
        f"Join our retro{named} (session {code}) from a terminal:",
        "",
        f"  {doors.ssh(code)}",
        "",
    ]
    if doors.web is not None:
        lines += [f"No terminal? Open {doors.web} in a browser and type the code {code}.", ""]
    lines += [  # a sentence a line: a chat wraps them, an email keeps them whole
        "New to ssh? Paste the line into a terminal (Terminal on a Mac, PowerShell on "
        "Windows) and press enter.",
        "The first time, ssh asks whether to trust the server: check that the fingerprint "
        f"it shows is {doors.fingerprint}, then type yes.",
        "No account or password needed: you pick your name when you join.",
        "",
        f"Projector (for the shared screen): {doors.ssh('watch ' + code)}",
    ]
    return strip_controls("\n".join(lines) + "\n")


def local_text(code: str, data_dir: Path, title: str | None = None) -> str:
    """The lines for people on this host, when no serve runs: therapy join in a terminal."""
    named = f' "{clean_line(title)}"' if title and clean_line(title) else ""
    therapy = f"therapy --data-dir {shlex.quote(str(data_dir))}"
    lines = [
        f"Join our retro{named} (session {code}) on this host, in a terminal:",
        "",
        f"  {therapy} join {code}",
        "",
        f"Projector (for the shared screen): {therapy} watch {code}",
    ]
    return strip_controls("\n".join(lines) + "\n")


@dataclass(frozen=True)
class Invitation:
    """The text to paste, and the doors it was made from (None: no serve runs, and the
    text is for people on this host only)."""

    text: str
    doors: DoorsRecord | None

    @property
    def warning(self) -> str | None:
        return NO_SERVE if self.doors is None else None


def invite(sessions: Sessions, code: str) -> Invitation:
    """The invitation to session CODE (an unknown code is one sentence, as everywhere)."""
    session = sessions.session(code)
    data_dir = sessions.store.root.absolute()
    doors = read_doors(data_dir)
    if doors is None:
        return Invitation(local_text(session.code, data_dir, session.title), None)
    return Invitation(invitation_text(session.code, doors, session.title), doors)
