"""A token in a wiki's URL reaches git by the environment only: a real git publishes over
HTTP on the loopback to `git http-backend` behind basic auth, while a thread reads the
command line of every process; and what is shown or kept never holds a credential."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_publish
import wiki_support
from hypothesis import given, settings
from hypothesis import strategies as st
from test_publish import git
from wiki_support import TOKEN, USER, GitServer, Watcher, assert_pushed_unseen, url

from therapy.export import wiki
from therapy.export.wiki.credentials import held_login, split_login
from therapy.model import TherapyError
from therapy.service import Sessions

# the fixtures of test_publish (its own git config and temporary folder, the demo session)
# and of wiki_support (the wiki served over HTTP, the watcher of command lines)
git_setup = test_publish.git_setup
world = test_publish.world
sessions = test_publish.sessions
demo = test_publish.demo
seeded = test_publish.seeded
bare = test_publish.bare

served = wiki_support.served
watcher = wiki_support.watcher


@pytest.mark.parametrize(
    "login", [f"{USER}:{TOKEN}@", f"{TOKEN}@"], ids=["user-and-token", "token-as-user"]
)
def test_a_token_reaches_git_by_the_environment_only(
    served: GitServer, watcher: Watcher, seeded: Path, sessions: Sessions, demo: str, login: str
) -> None:
    """alice's token as her password, or the token as the user name with no password (as
    GitHub takes it): git gets it from the environment, never on a command line, and it is
    neither said nor kept."""
    done = sessions.publish(demo, url(served, login))
    # git talked to the server while its command lines were read: none held the token
    assert_pushed_unseen(done, seeded, demo, watcher)
    assert served.requests >= 4
    assert TOKEN not in " ".join(done.said()) and TOKEN not in done.wiki
    assert TOKEN not in sessions.wiki_for(demo)


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
    assert_pushed_unseen(done, seeded, demo, watcher)
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
    assert said.endswith(".") and "\n" not in said
