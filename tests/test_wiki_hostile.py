"""A wiki's token and a participant's text against a hostile host and a hostile renderer.

The token in a wiki's URL goes only to the host it was typed for (not to the host a wiki
redirects to, nor to a proxy that asks for a login), never onto a command line (a clone's
push URL, a mistyped https:/ URL, a helper given through GIT_CONFIG_PARAMETERS) and never
into a sentence; a user name alone still lets the person's own credential helper answer;
and cmark-gfm (GitHub's renderer) makes no link of an address or a www. in what people typed.
"""

from __future__ import annotations

import base64
import http.server
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import test_publish
import wiki_support
from test_publish import PLAN, files, git
from test_wiki_pages import cmark, elements, needs_cmark
from wiki_support import (
    TOKEN,
    USER,
    GitHandler,
    GitServer,
    Watcher,
    assert_pushed_unseen,
    url,
)

from therapy.export import markdown_text, wiki
from therapy.export.wiki.credentials import split_login
from therapy.model import TherapyError
from therapy.service import Sessions

# the fixtures of test_publish and wiki_support
git_setup = test_publish.git_setup
world = test_publish.world
sessions = test_publish.sessions
demo = test_publish.demo
seeded = test_publish.seeded
bare = test_publish.bare
served = wiki_support.served
watcher = wiki_support.watcher

BASIC = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()


# -- the token goes to the host it was typed for, and nowhere else ------------------------


class Elsewhere(http.server.ThreadingHTTPServer):
    """Another host (127.0.0.2) that keeps every login it is sent: it redirects every
    request to the wiki's server TO (a moved project, or a hostile host), or, with no TO, is
    an HTTP proxy that asks for its own login (407)."""

    daemon_threads = True

    def __init__(self, to: GitServer | None = None) -> None:
        super().__init__(("127.0.0.2", 0), Redirecting)
        self.to = to
        self.logins: list[str] = []


class Redirecting(http.server.BaseHTTPRequestHandler):
    server: Elsewhere

    def do_GET(self) -> None:
        for header in ("Authorization", "Proxy-Authorization"):
            self.server.logins.append(self.headers.get(header, ""))
        if self.server.to is None:
            self.send_response(407)
            self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
        else:
            self.send_response(302)
            self.send_header("Location", url(self.server.to).removesuffix("/wiki.git") + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


class Recording(GitHandler):
    """The wiki's server (git http-backend), keeping every login it is sent."""

    server: RecordingServer

    def serve(self) -> None:
        self.server.logins.append(self.headers.get("Authorization", ""))
        super().serve()


class RecordingServer(GitServer):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.RequestHandlerClass = Recording
        self.logins: list[str] = []


@contextmanager
def running(*servers: http.server.HTTPServer) -> Iterator[None]:
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_a_token_is_never_sent_to_the_host_a_wiki_redirects_to(
    seeded: Path, sessions: Sessions, demo: str
) -> None:
    """http://alice:TOKEN@A/wiki.git, and A redirects to B: the redirect is followed, but
    the token goes to A only, as git itself does with a token in its URL (next test), so B
    asks for a login it never gets and the publish is refused."""
    wiki_server = RecordingServer(seeded.parent)
    redirector = Elsewhere(wiki_server)
    with running(wiki_server, redirector):
        typed = f"http://{USER}:{TOKEN}@127.0.0.2:{redirector.server_address[1]}/wiki.git"
        with pytest.raises(TherapyError) as refused:
            sessions.publish(demo, typed)
    assert TOKEN not in str(refused.value)
    assert wiki_server.logins, "the redirect was never followed"
    # B (127.0.0.1) is not the host in the URL: it must never have seen the token
    assert BASIC not in wiki_server.logins


def test_git_itself_keeps_a_login_to_its_host_on_a_redirect(seeded: Path) -> None:
    """The baseline the test above holds therapy to: git 2.39 with the token in its URL."""
    wiki_server = RecordingServer(seeded.parent)
    redirector = Elsewhere(wiki_server)
    with running(wiki_server, redirector):
        typed = f"http://{USER}:{TOKEN}@127.0.0.2:{redirector.server_address[1]}/wiki.git"
        done = subprocess.run(
            ["git", "ls-remote", typed],
            capture_output=True,
            timeout=60,
            env=wiki._git_environment(False),
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode != 0
    assert wiki_server.logins and BASIC not in wiki_server.logins


def test_a_token_is_never_sent_to_a_proxy_that_asks_for_a_login(
    served: GitServer, sessions: Sessions, demo: str, tmp_path: Path
) -> None:
    """http.proxy=http://me@proxy (a login of the person's for the proxy): git asks the
    credential helpers for the proxy's password before it connects. The person's own helper
    holds it and answers for the proxy: the proxy gets the person's password, never the
    wiki's token."""
    proxy = Elsewhere()
    proxy_url = f"http://me@127.0.0.2:{proxy.server_address[1]}"
    kept = tmp_path / "credentials"
    git("config", "--global", "credential.helper", f"store --file={kept}")
    kept.write_text(proxy_url.replace("me@", "me:proxy-password@") + "\n")
    with running(proxy):
        git("config", "--global", "http.proxy", proxy_url)
        with suppress(TherapyError):
            sessions.publish(demo, url(served, f"{USER}:{TOKEN}@"))
    persons = "Basic " + base64.b64encode(b"me:proxy-password").decode()
    assert persons in proxy.logins and BASIC not in proxy.logins


def test_a_user_name_alone_in_the_url_still_lets_the_persons_helper_answer(
    served: GitServer, seeded: Path, sessions: Sessions, demo: str, tmp_path: Path
) -> None:
    """https://alice@bitbucket.org/... (Bitbucket's clone URLs all look like this) names a
    user, not a token: the person's own credential helper gives alice's password, and the
    publish goes through."""
    kept = tmp_path / "credentials"
    git("config", "--global", "credential.helper", f"store --file={kept}")
    kept.write_text(f"{url(served, f'{USER}:{TOKEN}@')}\n")
    assert sessions.publish(demo, url(served, f"{USER}@")).pushed
    assert f"{PLAN.format(code=demo)}.md" in files(seeded)


def test_a_clone_whose_remote_names_a_user_still_publishes(
    served: GitServer, seeded: Path, sessions: Sessions, demo: str, tmp_path: Path
) -> None:
    """The same in a person's clone made from https://alice@host/wiki.git."""
    kept = tmp_path / "credentials"
    git("config", "--global", "credential.helper", f"store --file={kept}")
    kept.write_text(f"{url(served, f'{USER}:{TOKEN}@')}\n")
    clone = tmp_path / "my-wiki"
    git("clone", "--quiet", url(served, f"{USER}@"), str(clone))
    assert sessions.publish(demo, str(clone)).pushed


class AnonymousReads(GitHandler):
    """A public wiki: anyone may fetch, only alice with her token may push."""

    def serve(self) -> None:
        if "git-upload-pack" in self.path and "Authorization" not in self.headers:
            self.headers["Authorization"] = BASIC  # as if no login were needed to read
        super().serve()


def test_a_token_in_a_clones_push_url_stays_off_the_command_line(
    served: GitServer,
    seeded: Path,
    sessions: Sessions,
    demo: str,
    tmp_path: Path,
    watcher: Watcher,
) -> None:
    """A clone that reads anonymously and pushes with a token (remote.origin.pushurl): the
    push URL's login is taken out as the fetch URL's is, so no command line holds it."""
    served.RequestHandlerClass = AnonymousReads
    clone = tmp_path / "my-wiki"
    git("clone", "--quiet", url(served), str(clone))
    config = clone / ".git" / "config"  # written as a file: a git command would show it
    config.write_text(
        config.read_text().replace(
            f"url = {url(served)}",
            f"url = {url(served)}\n\tpushurl = {url(served, f'{USER}:{TOKEN}@')}",
        )
    )
    done = sessions.publish(demo, str(clone))
    assert_pushed_unseen(done, seeded, demo, watcher)


def test_a_helper_given_on_gits_own_command_line_does_not_keep_the_token(
    served: GitServer,
    sessions: Sessions,
    demo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """therapy run from a git alias or hook (`git -c credential.helper=store ...`) inherits
    GIT_CONFIG_PARAMETERS, which git reads after GIT_CONFIG_*: a helper given there is not
    handed the token to keep."""
    kept = tmp_path / "credentials"
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'credential.helper'='store --file={kept}'")
    assert sessions.publish(demo, url(served, f"{USER}:{TOKEN}@")).pushed
    assert not kept.exists() or TOKEN not in kept.read_text()


# -- what is shown, kept, or given to git --------------------------------------------------


def test_a_raw_line_break_in_a_url_shows_no_part_of_the_token(
    sessions: Sessions, demo: str
) -> None:
    """A token pasted with a line break in it (from the shell: --wiki "$(cat token-url)"):
    no part of it, before the break or after, is in the sentence."""
    with pytest.raises(TherapyError) as refused:
        sessions.publish(demo, "https://u:SECRETHEAD\nsecrettail@127.0.0.1:1/t/w.wiki.git")
    said = str(refused.value)
    assert "SECRETHEAD" not in said and "secrettail" not in said, said


@pytest.mark.parametrize(
    "typed",
    ["https:/alice:{}@wiki.example/t/w.wiki.git", "https:alice:{}@wiki.example/t/w.git"],
    ids=["one-slash", "no-slash"],
)
def test_a_mistyped_https_url_puts_no_token_on_a_command_line(
    sessions: Sessions, demo: str, typed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One slash short, the URL is git's host:path (ssh to the host `https`): the token in
    it goes neither to ssh on its command line (here a stand-in that waits) nor into the
    sentence."""
    secret = "SECRET-7f3a9c"
    monkeypatch.setenv("GIT_SSH_COMMAND", "sleep 5; :")  # an ssh that takes its time
    monkeypatch.setattr(wiki, "NETWORK_SECONDS", 2)
    watcher = Watcher(secret)
    watcher.start()
    try:
        with pytest.raises(TherapyError) as refused:
            sessions.publish(demo, typed.format(secret))
    finally:
        watcher.stop()
    assert watcher.leaks == set()
    assert secret not in str(refused.value), str(refused.value)


def test_an_at_in_the_path_does_not_move_the_login_to_another_host() -> None:
    """RFC 3986: a user part holds no raw @ or /, a path may hold an @. The login is taken
    up to the first @, so it goes to the host of the URL, not to one named in its path."""
    remote, login = split_login("https://u:TOKEN@wiki.example/team/a@evil.example/w.git")
    assert remote == "https://wiki.example/team/a@evil.example/w.git"
    assert login is not None and (login.user, login.password) == ("u", "TOKEN")


# -- the Markdown filter on GitHub's renderer ---------------------------------------------


def links(text: str) -> list[str]:
    html = cmark(f"{markdown_text(text)}\n")
    return [str(attrs.get("href")) for tag, attrs in elements(html).found if tag == "a"]


@needs_cmark
@pytest.mark.parametrize(
    "text",
    [
        "mailto:@evil.example",
        "xmpp:@evil.example/resource",
        "write to mailto:@evil.example now",
        "xmpp:me@/evil.example",  # an @ before a slash
    ],
)
def test_an_address_with_a_scheme_and_no_user_is_no_link(text: str) -> None:
    """cmark-gfm's autolinker finds addresses in text with its escapes undone, rewinding from
    an @ over `mailto:` and `xmpp:` as well as [A-Za-z0-9.+_-], and an xmpp address may go
    on with a slash: the filter keeps such an @ from starting a link in all four."""
    assert links(text) == [], markdown_text(text)


@needs_cmark
@pytest.mark.parametrize(
    "text", ["see www.#1", "www._x", "www.-evil.example", "(www.(x", "our www.? page", "www.!"]
)
def test_www_before_a_character_that_is_no_word_is_no_link(text: str) -> None:
    """cmark-gfm links `www.` whatever follows (its domain check skips a backslash and its
    character, and counts the dot of www. itself): the filter keeps a `www.` from becoming a
    link whatever follows it, as the README says of all text."""
    assert links(text) == [], markdown_text(text)
