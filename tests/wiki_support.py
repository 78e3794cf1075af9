"""A wiki served over HTTP on the loopback, and a watcher of every process's command line,
for the tests that a token in a wiki's URL reaches git by the environment only.

The server runs the real `git http-backend` behind basic auth, taking alice with her token
(or the token as the user name); the watcher reads /proc/*/cmdline over and over while git
runs. The fixtures `served` and `watcher` need the `seeded` wiki of test_publish.
"""

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
from test_publish import PLAN, files

from therapy.export.wiki import Publication

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

    def stop(self) -> None:
        """Stop reading and wait for the last scan to end (a watcher never started too)."""
        self.done.set()
        if self.is_alive():
            self.join(timeout=30)
            assert not self.is_alive(), "the watcher did not stop"

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
        watcher.stop()


def assert_pushed_unseen(done: Publication, seeded: Path, demo: str, watcher: Watcher) -> None:
    """The plan of DEMO landed in the SEEDED wiki, git's HTTP helper ran while every command
    line was read, and none of them held the token."""
    watcher.stop()
    assert done.pushed and f"{PLAN.format(code=demo)}.md" in files(seeded)
    assert any("remote-http" in line for line in watcher.seen), watcher.seen
    assert watcher.leaks == set()
