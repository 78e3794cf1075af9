"""A token in a wiki's URL reaches git by the environment only: a real git publishes over
HTTP on the loopback to `git http-backend` behind basic auth, while a thread reads the
command line of every process; and what is shown or kept never holds a credential."""

from __future__ import annotations

import base64
import http.server
import os
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_publish
from hypothesis import given, settings
from hypothesis import strategies as st
from test_publish import PLAN, files, git

from therapy.export import wiki
from therapy.export.wiki.credentials import held_login, split_login
from therapy.model import TherapyError
from therapy.service import Sessions

# the fixtures of test_publish: its own git config and temporary folder, the demo session
git_setup = test_publish.git_setup
world = test_publish.world
sessions = test_publish.sessions
demo = test_publish.demo
seeded = test_publish.seeded
bare = test_publish.bare

USER = "alice"
# drawn per run: another run on the machine (its git processes are read too) has its own
TOKEN = f"glpat-{secrets.token_hex(10)}"
# alice with her token as password, or the token as the user name (as GitHub takes it)
ACCEPTED = {
    "Basic " + base64.b64encode(pair.encode()).decode() for pair in (f"{USER}:{TOKEN}", f"{TOKEN}:")
}


class Watcher(threading.Thread):
    """Reads /proc/*/cmdline of every process, over and over, until stopped: the git
    processes seen, and every command line that holds the secret."""

    def __init__(self, secret: str) -> None:
        super().__init__(daemon=True)
        self.secret = secret.encode()
        self.scans = 0
        self.seen: set[str] = set()
        self.leaks: set[str] = set()
        self.done = threading.Event()
        self.scanned = threading.Condition()

    def run(self) -> None:
        while not self.done.is_set():
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                        argv = cmdline.read()
                except OSError:  # gone meanwhile
                    continue
                shown = argv.replace(b"\0", b" ").decode("utf-8", "replace")
                if self.secret in argv:
                    self.leaks.add(shown)
                if b"git" in argv.split(b"\0")[0]:
                    self.seen.add(shown)
            with self.scanned:
                self.scans += 1
                self.scanned.notify_all()
            self.done.wait(0.005)  # lets the other threads (an app's loop) run between scans

    def scan_twice(self) -> None:
        """Returns once /proc has been read through at least once from now on."""
        with self.scanned:
            target = self.scans + 2
            assert self.scanned.wait_for(lambda: self.scans >= target, timeout=30)


class GitHandler(http.server.BaseHTTPRequestHandler):
    """git http-backend as CGI behind basic auth; each request waits, before it is
    answered, until the watcher has read every command line (git is waiting meanwhile)."""

    server: GitServer

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def log_message(self, *args: object) -> None:
        pass

    def body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()
        return b"".join(chunks)

    def serve(self) -> None:
        self.server.requests += 1
        if self.server.watcher is not None:
            self.server.watcher.scan_twice()
        body = self.body()
        if self.headers.get("Authorization") not in ACCEPTED:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="wiki"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": USER,  # http-backend takes pushes from a known user only
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        done = subprocess.run(
            ["git", "http-backend"], input=body, capture_output=True, env=env, timeout=30
        )
        head, _, payload = done.stdout.replace(b"\r\n", b"\n").partition(b"\n\n")
        headers = [line.split(b":", 1) for line in head.split(b"\n") if b":" in line]
        status = next((v.strip() for k, v in headers if k.lower() == b"status"), b"200")
        self.send_response(int(status.split()[0]))
        for name, value in headers:
            if name.lower() != b"status":
                self.send_header(name.decode(), value.strip().decode())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), GitHandler)
        self.root = root
        self.requests = 0
        self.watcher: Watcher | None = None


@pytest.fixture
def served(seeded: Path) -> Iterator[GitServer]:
    """The seeded wiki, at http://127.0.0.1:PORT/wiki.git, for alice with her token."""
    server = GitServer(seeded.parent)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def url(server: GitServer, credentials: str = "") -> str:
    return f"http://{credentials}127.0.0.1:{server.server_address[1]}/wiki.git"


@pytest.fixture
def watcher(served: GitServer) -> Iterator[Watcher]:
    watcher = Watcher(TOKEN)
    served.watcher = watcher
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.done.set()
        watcher.join(timeout=30)


def test_a_token_reaches_git_by_the_environment_only(
    served: GitServer, watcher: Watcher, seeded: Path, sessions: Sessions, demo: str
) -> None:
    done = sessions.publish(demo, url(served, f"{USER}:{TOKEN}@"))
    watcher.done.set()
    watcher.join(timeout=30)
    assert done.pushed and f"{PLAN.format(code=demo)}.md" in files(seeded)
    # git talked to the server while its command lines were read: none held the token
    assert served.requests >= 4
    assert any("remote-http" in line for line in watcher.seen), watcher.seen
    assert watcher.leaks == set()
    assert TOKEN not in " ".join(done.said()) and TOKEN not in done.wiki
    assert TOKEN not in sessions.wiki_for(demo)


def test_a_token_as_the_user_name_is_one_too(
    served: GitServer, watcher: Watcher, seeded: Path, sessions: Sessions, demo: str
) -> None:
    """https://TOKEN@host, as GitHub takes it: the token is the user name, no password."""
    done = sessions.publish(demo, url(served, f"{TOKEN}@"))
    watcher.done.set()
    watcher.join(timeout=30)
    assert done.pushed and f"{PLAN.format(code=demo)}.md" in files(seeded)
    assert any("remote-http" in line for line in watcher.seen), watcher.seen
    assert watcher.leaks == set()


def test_a_token_in_a_clones_remote_stays_off_the_command_line(
    served: GitServer,
    seeded: Path,
    sessions: Sessions,
    demo: str,
    tmp_path: Path,
    watcher: Watcher,
) -> None:
    """A clone made from a URL with a token keeps it in its config: git would hand it to
    git-remote-http on its command line."""
    clone = tmp_path / "my-wiki"
    git("clone", "--quiet", str(seeded), str(clone))
    config = clone / ".git" / "config"  # written as a file: a git command would show it
    config.write_text(config.read_text().replace(str(seeded), url(served, f"{USER}:{TOKEN}@")))
    done = sessions.publish(demo, str(clone))
    assert done.pushed and f"{PLAN.format(code=demo)}.md" in files(seeded)
    assert any("remote-http" in line for line in watcher.seen), watcher.seen
    assert watcher.leaks == set()
    assert TOKEN not in " ".join(done.said())
    # the clone is where the wiki is, as after a git pull
    assert (
        git("rev-parse", "HEAD", "origin/master", cwd=clone).split()
        == [git("--git-dir", str(seeded), "rev-parse", "master").strip()] * 2
    )


def test_git_never_prompts_and_no_helper_keeps_the_token(
    served: GitServer,
    seeded: Path,
    sessions: Sessions,
    demo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = tmp_path / "asked"
    askpass = tmp_path / "askpass"
    askpass.write_text(f'#!/bin/sh\necho "$@" >> {asked}\necho {TOKEN}\n')
    askpass.chmod(0o755)
    for name in ("GIT_ASKPASS", "SSH_ASKPASS"):
        monkeypatch.setenv(name, str(askpass))
    kept = tmp_path / "credentials"
    git("config", "--global", "credential.helper", f"store --file={kept}")
    # without the token: refused in one sentence, and nobody was asked for it
    with pytest.raises(TherapyError, match="you have no access to it"):
        sessions.publish(demo, url(served))
    assert not asked.exists()
    # with it: published, and the person's credential helper did not store it
    assert sessions.publish(demo, url(served, f"{USER}:{TOKEN}@")).pushed
    assert not kept.exists() or TOKEN not in kept.read_text()
    # a token the person's helper holds is used when the URL has none
    kept.write_text(f"{url(served, f'{USER}:{TOKEN}@')}\n")
    assert sessions.publish(demo, url(served)).commit is None  # reached: nothing changed
    assert not asked.exists()


@pytest.mark.parametrize(
    ("typed", "remote", "login"),
    [
        ("https://u:p%40ss%2Fx@host/w.git", "https://host/w.git", ("u", "p@ss/x")),
        ("HTTP://TOKEN@host:8080/w.git", "HTTP://host:8080/w.git", ("TOKEN", "")),
        ("ssh://git:SECRET@host/w.git", "ssh://git@host/w.git", None),  # ssh takes none
        ("git@host:team/w.git", "git@host:team/w.git", None),
    ],
)
def test_the_login_is_taken_out_of_what_git_is_given(
    typed: str, remote: str, login: tuple[str, str] | None
) -> None:
    got, found = split_login(typed)
    assert got == remote
    assert (found.user, found.password) == login if found else login is None


@pytest.mark.parametrize(
    "typed",
    [
        "https://u:SECRET/x@host/w.git",  # a raw / ends the host part: git sees no login
        "https:/u:SECRET@host/w.git",  # a slash short: git's host:path, over ssh
        "https:u:SECRET@host/w.git",
        "https://host/w.git/\nu:SECRET@host",
    ],
    ids=["raw-slash", "one-slash", "no-slash", "line-break"],
)
def test_a_login_that_git_would_not_take_out_is_refused(typed: str) -> None:
    with pytest.raises(TherapyError, match="%40") as refused:
        split_login(typed)
    assert "SECRET" not in str(refused.value)


def test_every_url_of_a_clones_remote_is_read_without_its_login() -> None:
    fetched, pushed = "https://host/w.git", "https://u:SECRET@host/w.git"
    login, held = held_login([fetched, pushed, "ssh://git:SECRET@host/w.git"])
    assert login is not None and (login.user, login.origin) == ("u", "https://host")
    assert held == {pushed: fetched, "ssh://git:SECRET@host/w.git": "ssh://git@host/w.git"}
    with pytest.raises(TherapyError, match="2 different logins"):
        held_login([pushed, "https://v:SECRET2@other/w.git"])


def test_a_login_shows_no_password() -> None:
    login = split_login("https://u:SECRET@host/w.git")[1]
    assert login is not None and "SECRET" not in repr(login)


def test_a_login_with_a_control_character_is_refused() -> None:
    with pytest.raises(TherapyError, match="has a control character") as refused:
        split_login("https://u:SECRET%0Aurl=evil@host/w.git")  # one more line to the helper
    assert "SECRET" not in str(refused.value)


# -- redaction: what is shown or kept ------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "https://u:SECRET8/x@host/team/w.wiki.git",
        "https://u:SECRET10 @host/team/w.wiki.git",
        "https://u:SECRET@@host/team/w.wiki.git",
        "https://SECRET@host/team/w.wiki.git",
        "https://u:SECRET%40x@host/team/w.wiki.git",
    ],
    ids=["slash", "space", "at", "token-as-user", "encoded"],
)
def test_redaction_hides_a_password_of_any_shape(typed: str) -> None:
    assert wiki.redact(typed) == "https://host/team/w.wiki.git"
    said = f"fatal: unable to access '{typed}/': The requested URL returned error: 403"
    assert wiki.redact(said) == (
        "fatal: unable to access 'https://host/team/w.wiki.git/': The requested URL "
        "returned error: 403"
    )


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("https://host/w.wiki.git?private_token=SECRET", "https://host/w.wiki.git"),
        ("https://host/w.wiki.git?access_token=SECRET&ref=x", "https://host/w.wiki.git?ref=x"),
        ("https://host/w.wiki.git?ref=x&token=SECRET", "https://host/w.wiki.git?ref=x"),
        ("https://host/w.wiki.git?a=1&Private-Token=SECRET&b=2", "https://host/w.wiki.git?a=1&b=2"),
        ("https://host/w.wiki.git?job_token=SECRET#top", "https://host/w.wiki.git#top"),
        ("https://host/w.wiki.git?key=SECRET", "https://host/w.wiki.git"),
        ("https://host/w.wiki.git?api_key=SECRET&ref=x", "https://host/w.wiki.git?ref=x"),
        ("https://host/w.wiki.git?ref=x&sig=SECRET", "https://host/w.wiki.git?ref=x"),
    ],
)
def test_redaction_takes_out_a_token_in_the_query(typed: str, shown: str) -> None:
    assert wiki.redact(typed) == shown
    assert "SECRET" not in wiki.redact(f"fatal: repository '{typed}' not found")


PASSWORDS = st.text(
    st.characters(blacklist_categories=("Cc", "Cs")),
    min_size=1,
    max_size=40,
)


@settings(max_examples=500, deadline=None)
@given(user=st.from_regex(r"[A-Za-z0-9._-]{0,12}", fullmatch=True), password=PASSWORDS)
def test_no_password_survives_redaction(user: str, password: str) -> None:
    secret = "SECRET" + password
    for typed in (
        f"https://{user}:{secret}@host/t/w.wiki.git",
        f"http://{secret}@host:8080/t/w.wiki.git",
        f"ssh://git:{secret}@host/t/w.wiki.git",
    ):
        for text in (typed, f"fatal: unable to access '{typed}/': error: 401", f"{typed}\n{typed}"):
            assert "SECRET" not in wiki.redact(text), text


@pytest.mark.parametrize(
    "typed",
    [
        "https://u:SECRET8/x@127.0.0.1:1/t/w.wiki.git",
        "https://u:SECRET10 @127.0.0.1:1/t/w.wiki.git",
        "https://127.0.0.1:1/t/w.wiki.git?private_token=SECRET",
    ],
    ids=["slash", "space", "query"],
)
def test_no_sentence_holds_a_credential(sessions: Sessions, demo: str, typed: str) -> None:
    with pytest.raises(TherapyError) as refused:
        sessions.publish(demo, typed)
    said = str(refused.value)
    assert "SECRET" not in said and "https://127.0.0.1:1/t/w.wiki.git" in said
    assert said.count(".") >= 1 and "\n" not in said
