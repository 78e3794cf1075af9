"""The README's SSH set-up, followed as it is written: its commands, read out of the README,
run as root on this machine, with two new Unix users (the facilitator's login and the retro
account, removed afterwards) and a real sshd on 127.0.0.1 with a config of its own.

Root only (it makes users): skipped otherwise, and in CI (CI=true), where .ci/run runs the
suite as root, a failure instead. Nothing outside its own folder is touched: the README's
system paths are mapped to places in it (Host.literal), and the lines that install system
packages or reload the system's sshd are checked to be there but not run (NOT_RUN).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from ssh_support import (
    Sshd,
    Tmux,
    check_sshd_config,
    in_ci,
    keygen,
    loopback_sshd,
    require_tools,
    sshd_config,
    tmux_server,
    wait_until,
)

REPOSITORY = Path(__file__).parents[1]  # the clone the README installs from
README = REPOSITORY / "README.md"
SECTION = "## Running a retro over SSH"

# What each block of the section is, by the bold words that lead into it.
BLOCKS = {
    "Once, on the host, as root": "root",
    "The facilitator": "facilitator",
    "One line per person": "root",
    "Or force the command for the whole account.": "sshd drop-in",
    "To join": "participant",
    "Files made without the umask": "repair",
    "In tmux": "not run",  # a tmux.conf
    "People on the host itself": "not run",  # the facilitator's commands, in tmux panes
}
NOT_RUN = [
    "apt-get update && apt-get install -y python3-venv openssh-server",  # this machine has them
    "sshd -t && systemctl reload ssh",  # the system's sshd: the test checks its own copy
]
ROOT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # root's, without a virtual environment's
JOIN = "ssh -t retro@host K7QX2M"
EMEA_CARD = "Leads arrive cold"
LATER_CARD = "Demos clash with our calls"
UNREACHABLE = "There is no session {} that you can join; check the code with your facilitator."


@dataclass
class Host:
    """The README's host, in a folder of its own that every user may enter."""

    folder: Path
    account: str  # the README's `retro`
    facilitator: str  # the README's `YOU`
    code: str = "K7QX2M"  # the README's example, until the facilitator makes a session

    @property
    def venv(self) -> Path:  # /opt/therapy
        return self.folder / "venv"

    @property
    def data(self) -> Path:  # /srv/retro
        return self.folder / "data"

    @property
    def bin(self) -> Path:  # /usr/local/bin, which sshd's PATH holds (SetEnv PATH here)
        return self.folder / "bin"

    @property
    def sshd(self) -> Path:  # /etc/ssh
        return self.folder / "sshd"

    def key(self, person: str) -> str:
        """The public key line of `person` (alex@laptop in the README is alex)."""
        path = self.folder / "keys" / person
        if not path.exists():
            keygen(path)
        return path.with_suffix(".pub").read_text().strip()

    def literal(self, text: str) -> str:
        """The README's text with its example names and system paths put in this host's."""
        places = {
            "/srv/retro": str(self.data),
            "/opt/therapy": str(self.venv),
            "/usr/local/bin/therapy": str(self.bin / "therapy"),
            "/etc/ssh/sshd_config.d": str(self.sshd / "sshd_config.d"),
            "retro": self.account,
            "YOU": self.facilitator,
            "K7QX2M": self.code,
        }
        pattern = "|".join(
            [r"ssh-ed25519 AAAA\.\.\. (?P<person>\w+)@laptop"]
            + [rf"\b{re.escape(name)}\b" if name.isalnum() else re.escape(name) for name in places]
        )
        done = re.sub(
            pattern, lambda m: self.key(m["person"]) if m["person"] else places[m[0]], text
        )
        system = re.search(r"(?<![\w./-])/(opt|usr/local|etc|srv)/", done)
        assert system is None, f"{system[0]} left in a command the test would run:\n{done}"
        return done

    def environment(self, user: str) -> list[str]:
        home = Path(os.path.expanduser(f"~{user}"))
        return [
            f"PATH={self.bin}:/usr/bin:/bin",
            f"HOME={home}",
            "LANG=C.UTF-8",
            f"THERAPY_NOW={os.environ['THERAPY_NOW']}",
            "TERM=xterm-256color",
        ]

    def as_user(self, user: str, argv: list[str]) -> list[str]:
        """argv run as `user` (with their groups), from a clean environment, under a umask
        that shares nothing: only what the README does makes files group-writable."""
        inner = ["runuser", "-u", user, "--", "env", "-i", *self.environment(user), *argv]
        return ["sh", "-c", 'umask 077; exec "$@"', "sh", *inner]

    def run(self, user: str, command: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        argv = ["sh", "-e", "-c", command]
        as_root = user == "root"
        result = subprocess.run(
            argv if as_root else self.as_user(user, argv),
            capture_output=True,
            text=True,
            timeout=300,  # pip install
            stdin=subprocess.DEVNULL,
            cwd=REPOSITORY if as_root else self.folder,
            env={**os.environ, "PATH": ROOT_PATH} if as_root else None,
            umask=0o022,  # root's
        )
        if ok:
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        return result

    def unwritable(self, user: str) -> list[str]:
        """What `user` cannot read or write (or enter) under the data folder."""
        find = f"find {self.data} ! -readable -o ! -writable -o -type d ! -executable"
        found = self.run(user, find, ok=False)  # a folder it cannot enter: status 1
        return found.stdout.split()


def section() -> str:
    text = README.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end >= 0 else None]


def blocks() -> list[tuple[str, str]]:
    """Each fenced block of the section with what BLOCKS says it is; fails on a block it
    does not know, so that the README cannot gain a step this test does not follow."""
    text = section()
    found = []
    for fence in re.finditer(r"^```\w*\n(.*?)^```$", text, re.M | re.S):
        leads = re.findall(r"^\*\*(.+?)\*\*", text[: fence.start()], re.M)
        assert leads and leads[-1] in BLOCKS, f"a block the test does not know:\n{fence[0]}"
        found.append((BLOCKS[leads[-1]], fence[1]))
    return found


def commands(kind: str) -> list[str]:
    """The bodies of the blocks of `kind`, without the NOT_RUN lines."""
    return [
        "\n".join(line for line in body.splitlines() if line.strip() not in NOT_RUN)
        for what, body in blocks()
        if what == kind
    ]


def require_root() -> None:
    """Skip unless root, with what the README's set-up uses; in CI, fail instead."""
    require_tools()
    wanted = [
        tool for tool in ("adduser", "usermod", "userdel", "runuser") if not shutil.which(tool)
    ]
    python = shutil.which("python3", path=ROOT_PATH)
    check = "import ensurepip, sys; sys.exit(sys.version_info < (3, 11))"
    if python is None or subprocess.run([python, "-c", check], capture_output=True).returncode:
        wanted.append("the system's python3, 3.11 or newer, with venv (python3-venv)")
    if os.geteuid() != 0:
        wanted.insert(0, "root (it makes Unix users)")
    if not wanted:
        return
    message = f"the README's SSH set-up test needs {', '.join(wanted)}"
    if in_ci():
        pytest.fail(f"{message}; .ci/run runs the suite as root and installs the tools")
    pytest.skip(message)


def stop_processes_of(users: list[str]) -> None:
    """End what the test's users still run (sshd's children live in sessions of their
    own), by process id, so that the users can be removed."""
    uids = {str(user_id(user)) for user in users}
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        uid = re.search(r"^Uid:\s+(\d+)", status, re.M)
        if uid and uid[1] in uids:
            with suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


@pytest.fixture
def host() -> Iterator[Host]:
    require_root()
    folder = Path(tempfile.mkdtemp(prefix="therapy-setup-", dir="/tmp"))
    folder.chmod(0o755)  # the test's users run the scripts and read the keys' commands in it
    suffix = secrets.token_hex(3)
    host = Host(folder, account=f"thr{suffix}", facilitator=f"thf{suffix}")
    for place in (host.bin, host.sshd / "sshd_config.d", folder / "keys"):
        place.mkdir(parents=True)
        place.chmod(0o755)
    made: list[str] = []
    try:
        subprocess.run(
            [
                "adduser",
                "--quiet",
                "--disabled-password",
                "--comment",
                "therapy test",
                host.facilitator,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        made.append(host.facilitator)
        made.append(host.account)  # made by the README's commands; removed if it exists
        yield host
    finally:
        existing = [
            u for u in made if subprocess.run(["id", u], capture_output=True).returncode == 0
        ]
        if existing:
            stop_processes_of(existing)
        for user in existing:  # the facilitator first: then the account's group has no members
            subprocess.run(["userdel", "-r", user], capture_output=True, timeout=60)
        for group in made:
            if subprocess.run(["getent", "group", group], capture_output=True).returncode == 0:
                subprocess.run(["groupdel", group], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def start_sshd(host: Host, pam: str) -> AbstractContextManager[Sshd]:
    """The README's host's sshd, but on 127.0.0.1 and a config of its own: only the retro
    account may log in, `pam` says if PAM is used (Debian: yes; without it sshd refuses a
    locked account), and the host's bin folder stands in for /usr/local/bin on PATH."""
    folder = host.sshd / f"pam-{pam}"
    folder.mkdir()
    return loopback_sshd(
        folder,
        [
            f"AllowUsers {host.account}",
            f"UsePAM {pam}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            f"SetEnv PATH={host.bin}:/usr/bin:/bin THERAPY_NOW={os.environ['THERAPY_NOW']}",
            "LogLevel INFO",
        ],
    )


def connect(host: Host, sshd: Sshd, tmux: Tmux, person: str) -> None:
    """`ssh -t retro@host K7QX2M` as the README has it, from `person`'s key."""
    assert JOIN in commands("participant")[0]
    argv = sshd.client(host.code, key=host.folder / "keys" / person, user=host.account)
    tmux.start(person, argv)


def test_the_readme_ssh_set_up_works_as_written(host: Host) -> None:
    for line in NOT_RUN:
        assert any(line in body for _, body in blocks()), f"the README lost {line!r}"

    # as root, once: the command, the account, the data folder, the keys' file; then the keys
    first, keys = commands("root")
    host.run("root", host.literal(first))
    assert host.run("root", f"stat -c %a:%U:%G {host.data}").stdout.split() == [
        f"2770:{host.account}:{host.account}"
    ]
    host.run("root", host.literal(keys))
    authorized = Path(os.path.expanduser(f"~{host.account}")) / ".ssh" / "authorized_keys"
    assert host.run("root", f"stat -c %a:%U {authorized}").stdout.split() == [f"600:{host.account}"]

    # the facilitator makes the session, from a shell that shares nothing (umask 077)
    (facilitator,) = commands("facilitator")
    new, facilitate = [line for line in facilitator.splitlines() if line.strip()]
    host.code = host.run(host.facilitator, host.literal(new)).stdout.strip()

    with (
        start_sshd(host, "no") as sshd,
        tmux_server(host.folder) as tmux,
    ):
        tmux.start(
            "facilitator", host.as_user(host.facilitator, ["sh", "-c", host.literal(facilitate)])
        )
        tmux.wait_for("facilitator", lambda s: "Q3 lead handoff" in s, "the facilitator's app", 20)
        tmux.keys("facilitator", "C-n")  # to vent: the facilitator writes
        wait_until(lambda: phase(host) == "vent", 10, lambda: tmux.screen("facilitator"))

        # Lee's key is bound to the APAC pair: the EMEA session gets the same sentence as
        # a code that does not exist
        connect(host, sshd, tmux, "lee")
        wait_for(tmux, sshd, "lee", "(try 2 of 3)", "Lee's second try")
        tmux.type("lee", "NOPE42")
        tmux.keys("lee", "Enter")
        tmux.wait_for("lee", lambda s: "(try 3 of 3)" in s, "Lee's third try")
        tmux.keys("lee", "C-d")
        assert tmux.wait_ended("lee") != 0
        shown = tmux.screen("lee", scrolled=True)
        said = [line for line in shown.splitlines() if "There is no" in line]
        assert said == [UNREACHABLE.format(host.code), UNREACHABLE.format("NOPE42")]

        # Alex's key is bound to the EMEA pair and Sales: Alex joins and adds a card
        connect(host, sshd, tmux, "alex")
        wait_for(tmux, sshd, "alex", "no complaints yet", "Alex's vent")
        add_card(tmux, "alex", EMEA_CARD)

        # the facilitator moves on and back (over the account's files), then Alex adds
        # another (over the facilitator's)
        tmux.keys("facilitator", "C-n")
        tmux.wait_for("alex", lambda s: "Unsorted" in s, "diagnose on Alex's screen")
        tmux.keys("facilitator", "C-b")
        tmux.wait_for("alex", lambda s: "Add complaint" in s, "vent on Alex's screen")
        add_card(tmux, "alex", LATER_CARD)
        plan = json.loads(
            host.run(host.facilitator, f"therapy export {host.code} --format json").stdout
        )
        cards = [(c["side"], c["text"]) for c in plan["complaints"]]
        assert cards == [("Sales", EMEA_CARD), ("Sales", LATER_CARD)]
        for person in ("alex", "facilitator"):
            tmux.keys(person, "C-q")
            assert tmux.wait_ended(person) == 0

        # PAM or not, the account lets a key in (a wrong code, without a terminal, is one try)
        with start_sshd(host, "yes") as with_pam:
            refused = subprocess.run(
                with_pam.client(
                    "NOPE42", tty=False, key=host.folder / "keys" / "sam", user=host.account
                ),
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
            assert refused.stderr.strip() == "Error: " + UNREACHABLE.format("NOPE42"), (
                with_pam.log_tail()
            )

    # everything the session made is the group's: both users read and write all of it
    owners = set()
    for path in [host.data, *host.data.rglob("*")]:
        info = path.lstat()
        owners.add(info.st_uid)
        assert info.st_gid == group_id(host.account), path
        wanted = 0o2770 if path.is_dir() else 0o660
        assert info.st_mode & wanted == wanted, f"{path}: {oct(info.st_mode)}"
    assert owners >= {user_id(host.facilitator), user_id(host.account)}
    assert host.data.stat().st_mode & 0o007 == 0
    assert host.unwritable(host.facilitator) == [] and host.unwritable(host.account) == []

    # a session made without the command (and its umask) is the facilitator's alone, until
    # the README's repair
    host.run(host.facilitator, f"THERAPY_DATA_DIR={host.data} {host.venv}/bin/therapy new Private")
    assert host.unwritable(host.account) != []
    (repair,) = commands("repair")
    host.run("root", host.literal(repair))
    assert host.unwritable(host.facilitator) == [] and host.unwritable(host.account) == []


def test_the_readme_match_block_binds_the_account_only(host: Host) -> None:
    """Where the README puts the Match block (a drop-in read at the top of sshd_config), it
    forces the command for the retro account and ends with its file."""
    (drop_in,) = commands("sshd drop-in")
    host.run("root", host.literal(drop_in))
    keygen(host.sshd / "host_key")
    config = sshd_config(
        host.sshd,
        [f"Include {host.sshd / 'sshd_config.d'}/*.conf", "PasswordAuthentication no", "UsePAM no"],
    )
    check_sshd_config(config)

    def effective(user: str) -> dict[str, str]:
        shown = check_sshd_config(config, "-T", "-C", f"user={user},host=x,addr=127.0.0.1")
        return dict(line.split(" ", 1) for line in shown.splitlines() if " " in line)

    account, other = effective(host.account), effective(host.facilitator)
    assert account["forcecommand"] == "therapy ssh" and account["disableforwarding"] == "yes"
    assert other["forcecommand"] == "none" and other["disableforwarding"] == "no"
    assert account["passwordauthentication"] == other["passwordauthentication"] == "no"


def wait_for(tmux: Tmux, sshd: Sshd, name: str, text: str, what: str) -> str:
    """Wait for `text` on `name`'s screen over SSH; if in vain, with what sshd said."""
    try:
        return tmux.wait_for(name, lambda shown: text in shown, what, 20)
    except AssertionError as error:
        raise AssertionError(f"{error}\nsshd says:\n{sshd.log_tail()}") from None


def add_card(tmux: Tmux, person: str, text: str) -> None:
    tmux.keys(person, "a")
    tmux.wait_for(person, lambda s: "A complaint from Sales" in s, "the add form")
    tmux.type(person, text)
    tmux.keys(person, "Enter")
    tmux.wait_for(person, lambda s: text in s and "A complaint from" not in s, f"the card {text!r}")


def phase(host: Host) -> str:
    return host.run(host.facilitator, f"therapy phase {shlex.quote(host.code)}").stdout.strip()


def user_id(user: str) -> int:
    return int(subprocess.check_output(["id", "-u", user], text=True))


def group_id(group: str) -> int:
    return int(subprocess.check_output(["getent", "group", group], text=True).split(":")[2])
