"""`therapy publish` into real git repositories: a bare repository on disk (by path and by
file:// URL), a person's working clone, one served by the loopback sshd, and the ways a
publish fails. What landed is read back with git itself."""

from __future__ import annotations

import getpass
import html.parser
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import NOW
from host_support import NOBODY, as_root
from ssh_support import require_tools, running_sshd

from therapy.demo import build_demo
from therapy.export import wiki
from therapy.model import TherapyError
from therapy.service import Sessions
from therapy.store import Store

ROOT = Path(__file__).resolve().parent.parent
PUBLISHER = ("Pat Publisher", "pat@example.com")
PLAN = "Sales-x-Marketing-2026-11-27-{code}"
INDEX = "Sales-x-Marketing"
HOME = "# Welcome\n\nOur wiki, written by hand.\n"


def git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done.stdout


def show(bare: Path, what: str) -> str:
    return git("--git-dir", str(bare), "show", what)


def head(bare: Path, fmt: str, rev: str = "master") -> str:
    """What git log prints of the tip, in FORMAT."""
    return git("--git-dir", str(bare), "log", "-1", f"--format={fmt}", rev)


def files(bare: Path, rev: str = "master") -> list[str]:
    return git("--git-dir", str(bare), "ls-tree", "--name-only", rev).split()


def count(bare: Path, rev: str = "master") -> int:
    return int(git("--git-dir", str(bare), "rev-list", "--count", rev))


@pytest.fixture(autouse=True)
def git_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git config of the test's own (never the machine's), with an identity, and a
    temporary folder of its own, where a temporary clone left behind would show."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        f"[user]\n\tname = {PUBLISHER[0]}\n\temail = {PUBLISHER[1]}\n"
        "[init]\n\tdefaultBranch = master\n"
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    for name in ("GIT_SSH_COMMAND", "GIT_SSH", "GIT_DIR", "GIT_WORK_TREE", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("NAME", "EMAIL"):
        monkeypatch.delenv(f"GIT_AUTHOR_{name}", raising=False)
        monkeypatch.delenv(f"GIT_COMMITTER_{name}", raising=False)
    return scratch


def no_temporary_clone(scratch: Path) -> None:
    assert [p.name for p in scratch.iterdir() if p.name.startswith("therapy-wiki-")] == []


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    """An empty bare repository: a wiki nobody has written to yet."""
    path = tmp_path / "wiki.git"
    git("init", "--quiet", "--bare", str(path))
    return path


def commit_file(clone: Path, name: str, text: str, push: bool = True) -> None:
    (clone / name).write_text(text)
    git("add", name, cwd=clone)
    git("commit", "--quiet", "-m", f"Write {name}", cwd=clone)
    if push:
        git("push", "--quiet", "origin", "HEAD", cwd=clone)


@pytest.fixture
def seeded(bare: Path, tmp_path: Path) -> Path:
    """A wiki with a Home page written by hand, as GitHub makes it."""
    writer = tmp_path / "writer"
    git("clone", "--quiet", str(bare), str(writer))
    commit_file(writer, "Home.md", HOME)
    return bare


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Sessions, str]:
    """One data folder for the module, with the demo: a session at close and an earlier
    session of its pair. Its plan is made once here, so the suggester is built once (the
    processes started by the tests build their own)."""
    data_dir = tmp_path_factory.mktemp("publish") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("THERAPY_NOW", NOW)
        patch.setenv("TZ", "UTC")
        time.tzset()
        sessions = Sessions(Store(data_dir))  # its clock is fixed from here on
        code = build_demo(sessions)
        sessions.plan(code)
    time.tzset()
    return data_dir, sessions, code


@pytest.fixture
def data_dir(world: tuple[Path, Sessions, str]) -> Path:
    return world[0]


@pytest.fixture
def sessions(world: tuple[Path, Sessions, str]) -> Sessions:
    return world[1]


@pytest.fixture
def demo(world: tuple[Path, Sessions, str]) -> str:
    return world[2]


def earlier_of(sessions: Sessions, code: str) -> str:
    points = sessions.trend(code=code)[0].points
    return next(p.code for p in points if p.code != code)


def therapy(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode, done.stdout, done.stderr


def one_sentence(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: ") and lines[0].endswith("."), stderr
    assert "Traceback" not in stderr and "hint:" not in stderr
    return lines[0]


# -- the main path, through the command line --------------------------------------------


def test_publish_a_session_into_a_bare_wiki(
    seeded: Path, data_dir: Path, demo: str, git_setup: Path
) -> None:
    status, out, err = therapy(data_dir, "publish", demo, "--wiki", str(seeded))
    assert status == 0, err
    plan = PLAN.format(code=demo)
    assert out.splitlines() == [
        f"Published {plan} and {INDEX} in commit {head(seeded, '%h').strip()}"
        f", pushed to {seeded} (master).",
        f"The commit carries {PUBLISHER[0]} <{PUBLISHER[1]}>.",
    ]
    assert sorted(files(seeded)) == sorted(["Home.md", f"{plan}.md", f"{INDEX}.md"])
    assert show(seeded, "master:Home.md") == HOME  # never touched
    page = show(seeded, f"master:{plan}.md")
    assert page.startswith("# Q3 lead handoff\n")
    assert f"[All sessions of Sales x Marketing]({INDEX})" in page
    index = show(seeded, f"master:{INDEX}.md")
    # both sessions have a row, newest first; only the published one is a link
    rows = [line for line in index.splitlines() if line.startswith("| 2026-")]
    assert len(rows) == 2
    assert f"[Q3 lead handoff]({plan})" in rows[0] and "Power Couple (0.78)" in rows[0]
    assert "Q2 pipeline truce" in rows[1] and "](" not in rows[1]
    message = head(seeded, "%an <%ae>%n%B")
    assert message.splitlines()[:2] == [
        f"{PUBLISHER[0]} <{PUBLISHER[1]}>",
        f"Publish retro {demo}: Q3 lead handoff (Sales x Marketing)",
    ]
    no_temporary_clone(git_setup)

    # the same session again, nothing changed: no new commit, and it says so
    status, out, err = therapy(data_dir, "publish", demo, "--wiki", str(seeded))
    assert status == 0, err
    assert out.startswith(f"Nothing changed on {seeded} (master) since {plan} and {INDEX}")
    assert "no new commit" in out
    assert count(seeded) == 2
    no_temporary_clone(git_setup)


def test_a_change_updates_the_page_and_the_index_links_what_is_published(
    seeded: Path, sessions: Sessions, demo: str
) -> None:
    url = seeded.as_uri()  # file://: the shallow fetch, as over the network
    sessions.publish(demo, url)
    plan = PLAN.format(code=demo)
    agreement = re.compile(r"^\| Sign a lead agreement.* \| (\w+) \|$", re.M)
    assert agreement.findall(show(seeded, f"master:{plan}.md")) == ["open"]
    item = next(a for a in sessions.board(demo).action_items if a.what.startswith("Sign a"))
    sessions.mark(f"{demo}-{item.id}", "done")  # between sessions: the plan changes
    try:
        done = sessions.publish(demo, url, message="The lead agreement is signed")
    finally:
        sessions.mark(f"{demo}-{item.id}", "open")  # as the other tests expect it
    assert done.commit is not None and done.pushed
    assert agreement.findall(show(seeded, f"master:{plan}.md")) == ["done"]
    assert head(seeded, "%B").strip().splitlines() == [
        "The lead agreement is signed",
        "",
        f"From therapy session {demo}: Q3 lead handoff",
    ]
    assert count(seeded) == 3

    earlier = earlier_of(sessions, demo)
    done = sessions.publish(earlier, url)
    older = f"Sales-x-Marketing-2026-10-16-{earlier}"
    assert done.pages == [older, INDEX]
    index = show(seeded, f"master:{INDEX}.md")
    assert index.index(f"]({plan})") < index.index(f"]({older})")  # newest first
    assert f"[All sessions of Sales x Marketing]({INDEX})" in show(seeded, f"master:{older}.md")


def test_an_empty_wiki_gets_its_first_branch(
    tmp_path: Path, bare: Path, sessions: Sessions, demo: str
) -> None:
    done = sessions.publish(demo, str(bare))
    assert (done.branch, done.pushed) == ("master", True)
    assert count(bare) == 1
    # --branch on an empty wiki names the branch it makes
    other = tmp_path / "other.git"
    git("init", "--quiet", "--bare", str(other))
    assert sessions.publish(demo, other.as_uri(), branch="pages").branch == "pages"
    assert files(other, "pages") == sorted([f"{INDEX}.md", f"{PLAN.format(code=demo)}.md"])
    # a new branch of a wiki that has pages starts from its default branch
    assert sessions.publish(demo, bare.as_uri(), branch="review").branch == "review"
    assert files(bare, "review") == files(bare, "master")
    assert head(bare, "%H", "review") == head(bare, "%H", "master")  # nothing new to commit
    # an empty bare repository whose HEAD names another branch: that one, as a clone would
    main = tmp_path / "main.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(main))
    assert sessions.publish(demo, str(main)).branch == "main"
    with pytest.raises(TherapyError, match="is not a branch name"):
        sessions.publish(demo, str(main), branch="no..pe")


# -- someone else pushed in between ------------------------------------------------------


def race(monkeypatch: pytest.MonkeyPatch, writer: Path, times: int) -> list[int]:
    """Before each of our first TIMES pushes, another clone pushes a page of its own: our
    push is then rejected as non-fast-forward, for real."""
    real = wiki._push
    pushes: list[int] = []

    def push_after_someone_else(repo: wiki._Git, remote: str, commit: str, branch: str) -> bool:
        pushes.append(len(pushes))
        if len(pushes) <= times:
            git("pull", "--quiet", "--rebase", cwd=writer)
            commit_file(writer, f"Notes-{len(pushes)}.md", f"notes {len(pushes)}\n")
        return real(repo, remote, commit, branch)

    monkeypatch.setattr(wiki, "_push", push_after_someone_else)
    return pushes


def test_a_push_that_loses_a_race_is_built_again(
    seeded: Path, tmp_path: Path, sessions: Sessions, demo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = tmp_path / "writer"  # the seeded wiki's other clone
    pushes = race(monkeypatch, writer, times=2)
    done = sessions.publish(demo, str(seeded))
    assert done.pushed and len(pushes) == 3
    names = files(seeded)
    assert {"Home.md", "Notes-1.md", "Notes-2.md", f"{INDEX}.md"} <= set(names)
    # ours sits on top of theirs: nothing of theirs was lost, and history is linear
    log = git("--git-dir", str(seeded), "log", "--format=%s", "master").splitlines()
    assert log == [
        f"Publish retro {demo}: Q3 lead handoff (Sales x Marketing)",
        "Write Notes-2.md",
        "Write Notes-1.md",
        "Write Home.md",
    ]


def test_a_race_lost_every_time_gives_up(
    seeded: Path, tmp_path: Path, sessions: Sessions, demo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    race(monkeypatch, tmp_path / "writer", times=wiki.TRIES)
    with pytest.raises(TherapyError, match=r"Others pushed to .* each time .*5 times"):
        sessions.publish(demo, str(seeded))
    assert f"{INDEX}.md" not in files(seeded)


# -- failures: one sentence, nothing half-done -------------------------------------------


def refuse_pushes(bare: Path) -> None:
    """A server that refuses every push (a chmod is not enough: CI runs as root)."""
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'this wiki is read-only' >&2\nexit 1\n")
    hook.chmod(0o755)


def test_a_refused_push_is_one_sentence_and_leaves_nothing(
    seeded: Path, data_dir: Path, demo: str, git_setup: Path
) -> None:
    refuse_pushes(seeded)
    before = head(seeded, "%H")
    status, out, err = therapy(data_dir, "publish", demo, "--wiki", str(seeded))
    assert status == 1 and out == ""
    line = one_sentence(err)
    assert "the wiki refused the push" in line and "this wiki is read-only" in line
    assert head(seeded, "%H") == before
    no_temporary_clone(git_setup)


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("folder", "is not a git repository"),
        ("missing", "There is no folder"),
        ("file-url", "there is no such repository"),
        ("inside", "not at its top"),
    ],
)
def test_not_a_wiki(
    tmp_path: Path, seeded: Path, data_dir: Path, demo: str, where: str, said: str
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    target = {
        "folder": str(plain),
        "missing": str(tmp_path / "nowhere"),
        "file-url": (tmp_path / "nowhere.git").as_uri(),
        "inside": str(seeded / "refs"),
    }[where]
    status, out, err = therapy(data_dir, "publish", demo, "--wiki", target)
    assert status == 1 and out == ""
    assert said in one_sentence(err)


@as_root  # gives a repository to another user
@pytest.mark.parametrize("kind", ["bare", "clone", "file-url"])
def test_a_wiki_owned_by_someone_else_is_said_as_such(
    tmp_path: Path, seeded: Path, data_dir: Path, demo: str, kind: str
) -> None:
    """git refuses to work in a repository of another user (its safe.directory check)."""
    repository = seeded
    if kind == "clone":
        repository = tmp_path / "their-clone"
        git("clone", "--quiet", str(seeded), str(repository))
    for folder, _, names in os.walk(repository):
        for path in [folder, *(os.path.join(folder, name) for name in names)]:
            os.lchown(path, NOBODY, NOBODY)
    target = repository.as_uri() if kind == "file-url" else str(repository)
    status, out, err = therapy(data_dir, "publish", demo, "--wiki", target)
    said = one_sentence(err)
    assert status == 1 and out == ""
    assert "belongs to another user" in said and "not a git repository" not in said
    assert f"git config --global --add safe.directory {repository}" in said


def test_a_token_in_the_url_is_never_shown(sessions: Sessions, demo: str) -> None:
    with pytest.raises(TherapyError) as refused:
        sessions.publish(demo, "https://pat:s3cret@127.0.0.1:1/team/wiki.wiki.git")
    said = str(refused.value)
    assert "s3cret" not in said and "pat:" not in said
    assert said.startswith("Could not publish to https://127.0.0.1:1/team/wiki.wiki.git while ")
    assert "it cannot be reached" in said


@pytest.mark.parametrize(
    ("wiki", "shown"),
    [
        ("https://oauth2:glpat-" + "S" * 300 + "@127.0.0.1:1/t/w.wiki.git", "https://127.0.0.1:1/"),
        ("https://user:p@ss@127.0.0.1:1/t/w.wiki.git", "https://127.0.0.1:1/t/w.wiki.git"),
        ("ssh://git:pass@127.0.0.1:1/t/w.wiki.git", "ssh://git@127.0.0.1:1/t/w.wiki.git"),
    ],
    ids=["long-token", "at-in-password", "ssh-password"],
)
def test_no_part_of_a_credential_is_ever_shown(
    sessions: Sessions, demo: str, wiki: str, shown: str
) -> None:
    """Taken out before the URL is shortened for the sentence, and up to the last @."""
    with pytest.raises(TherapyError) as refused:
        sessions.publish(demo, wiki)
    said = str(refused.value)
    assert f"Could not publish to {shown}" in said
    assert "SSS" not in said and "ss@" not in said and "pass" not in said


def test_a_wiki_that_looks_like_an_option_is_refused(
    tmp_path: Path, sessions: Sessions, demo: str
) -> None:
    planted = tmp_path / "planted"
    with pytest.raises(TherapyError, match="is not a wiki"):
        sessions.publish(demo, f"--upload-pack=touch {planted}:x")
    assert not planted.exists()


def test_a_wiki_that_never_answers_times_out_and_leaves_no_process(
    sessions: Sessions, demo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = f"therapy-test-hang-{os.getpid()}"
    monkeypatch.setenv("GIT_SSH_COMMAND", f"sleep 600 # {marker}")  # an ssh that hangs
    monkeypatch.setattr(wiki, "NETWORK_SECONDS", 1)
    with pytest.raises(TherapyError, match=r"got no answer from .* within 1 s while reading it"):
        sessions.publish(demo, "git@wiki.example:team/wiki.git")
    left = [
        entry.name
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and marker.encode() in _cmdline(entry)
    ]
    assert left == []


def _cmdline(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes()
    except OSError:
        return b""


def test_an_unknown_session_is_refused_before_git_runs(seeded: Path, sessions: Sessions) -> None:
    with pytest.raises(TherapyError, match="ZZZZZZ"):
        sessions.publish("ZZZZZZ", str(seeded))
    assert count(seeded) == 1


# -- pages that therapy did not write ----------------------------------------------------


def test_pages_written_by_hand_are_never_overwritten(
    tmp_path: Path, seeded: Path, sessions: Sessions, demo: str
) -> None:
    writer = tmp_path / "writer"
    mine = "# Sales x Marketing\n\nThe pair's page, by hand.\n"
    commit_file(writer, f"{INDEX}.md", mine)
    done = sessions.publish(demo, str(seeded))
    assert done.pages == [PLAN.format(code=demo), f"{INDEX}-retros"]
    assert show(seeded, f"master:{INDEX}.md") == mine
    # a page that therapy did not write under the plan's own name: refused, in a sentence
    theirs = tmp_path / "theirs.git"
    git("init", "--quiet", "--bare", str(theirs))
    other = tmp_path / "other"
    git("clone", "--quiet", str(theirs), str(other))
    commit_file(other, f"{PLAN.format(code=demo)}.md", "by hand\n")
    with pytest.raises(TherapyError, match="already has a page .* that therapy did not write"):
        sessions.publish(demo, str(theirs))
    assert count(theirs) == 1


def test_a_pair_named_home_does_not_take_the_home_page(seeded: Path, sessions: Sessions) -> None:
    code = sessions.create("Kick-off", ["Sales", "Marketing"], pair="home").code
    done = sessions.publish(code, str(seeded))
    assert done.pages == ["home-2026-11-27-" + code, "home-sessions"]
    assert show(seeded, "master:Home.md") == HOME


def test_two_pairs_of_one_name_keep_their_own_index_pages(
    seeded: Path, sessions: Sessions, demo: str
) -> None:
    real = sessions.create("The real one", ["Sales", "Marketing"]).code  # not the demo's pair
    assert sessions.publish(demo, str(seeded)).pages[1] == INDEX
    assert sessions.publish(real, str(seeded)).pages[1] == f"{INDEX}-retros"
    assert sessions.publish(demo, str(seeded)).commit is None  # each finds its own again
    assert "The real one" not in show(seeded, f"master:{INDEX}.md")
    assert "The real one" in show(seeded, f"master:{INDEX}-retros.md")


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("EMEA revenue", "EMEA-revenue-2026-11-27-K7QX2M"),
        ("Vertrieb × Märkte, Straße", "Vertrieb-x-Markte-Strasse-2026-11-27-K7QX2M"),
        ("Ventes\u202e x Øst\x1b[31m", "Ventes-x-Ost-31m-2026-11-27-K7QX2M"),
        ("営業 x マーケティング", "x-2026-11-27-K7QX2M"),
        ("営業", "Retro-2026-11-27-K7QX2M"),
        ("a" * 80 + " b", "a" * 60 + "-2026-11-27-K7QX2M"),
    ],
)
def test_page_names(label: str, name: str) -> None:
    created = "2026-11-27T23:30:00-05:00"  # still the 27th where it was made: the 28th in UTC
    got = wiki.plan_page_name(label, "2026-11-27T10:00:00+00:00", "K7QX2M")
    assert got == name
    assert re.fullmatch(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*", got)
    assert wiki.plan_page_name(label, created, "K7QX2M").endswith("2026-11-28-K7QX2M")
    names = wiki.index_page_names(label, "pair:" + label)
    assert all(re.fullmatch(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*", n) for n in names)
    index, spare, unique = names
    assert spare == index + "-retros" and unique == f"{index}-{wiki.pair_mark('pair:' + label)}"
    if label != "営業":
        assert index == name.removesuffix("-2026-11-27-K7QX2M")
    else:  # no ASCII letter at all: named by its key, so two such pairs get two pages
        assert index.startswith("Pair-") and index != wiki.index_page_names("営", "pair:営")[0]


# -- a working clone of the wiki ---------------------------------------------------------


@pytest.fixture
def clone(seeded: Path, tmp_path: Path) -> Path:
    path = tmp_path / "my-wiki"
    git("clone", "--quiet", str(seeded), str(path))
    return path


def state(clone: Path) -> tuple[str, str, str, str]:
    return (
        git("rev-parse", "HEAD", cwd=clone),
        git("status", "--porcelain", "--untracked-files=all", cwd=clone),
        git("rev-parse", "origin/master", cwd=clone),
        git("for-each-ref", cwd=clone),
    )


def test_a_working_clone_is_committed_pushed_and_brought_up_to_date(
    clone: Path, seeded: Path, tmp_path: Path, sessions: Sessions, demo: str
) -> None:
    commit_file(tmp_path / "writer", "Notes.md", "someone else's notes\n")  # clone is behind
    done = sessions.publish(demo, str(clone))
    assert done.pushed and done.where == str(seeded)
    assert sessions.wiki_for(demo) == str(clone.resolve())  # offered again: the clone
    tip = git("rev-parse", "HEAD", cwd=clone)
    assert tip == head(seeded, "%H") == git("rev-parse", "@{u}", cwd=clone)
    assert git("status", "--porcelain", "--untracked-files=all", cwd=clone) == ""
    assert (clone / "Notes.md").exists() and (clone / f"{INDEX}.md").exists()
    assert "refs/therapy" not in git("for-each-ref", cwd=clone)

    # its own uncommitted change to a page we write: refused, and left exactly as it was
    page = clone / f"{PLAN.format(code=demo)}.md"
    page.write_text(page.read_text() + "my own note\n")
    before = state(clone)
    with pytest.raises(TherapyError, match=r"has changes to Sales-x-Marketing-.*not committed"):
        sessions.publish(demo, str(clone), message="Publish again")
    assert state(clone) == before and page.read_text().endswith("my own note\n")
    # other uncommitted work is no reason to refuse, and is not committed
    git("checkout", "--", page.name, cwd=clone)
    (clone / "Draft.md").write_text("half-written\n")
    git("add", "Draft.md", cwd=clone)
    item = sessions.board(demo).action_items[-1]
    sessions.mark(f"{demo}-{item.id}", "done")
    try:
        assert sessions.publish(demo, str(clone), message="Publish again").pushed
    finally:
        sessions.mark(f"{demo}-{item.id}", "open")
    assert "Draft.md" not in files(seeded)
    assert git("status", "--porcelain", cwd=clone) == "A  Draft.md\n"


def test_a_working_clone_whose_push_is_refused_is_left_as_it_was(
    clone: Path, seeded: Path, sessions: Sessions, demo: str
) -> None:
    refuse_pushes(seeded)
    before = state(clone)
    with pytest.raises(TherapyError, match="the wiki refused the push"):
        sessions.publish(demo, str(clone))
    assert state(clone) == before
    assert sorted(p.name for p in clone.iterdir()) == [".git", "Home.md"]


def test_a_working_clone_with_unpushed_commits_or_another_branch_is_refused(
    clone: Path, sessions: Sessions, demo: str
) -> None:
    commit_file(clone, "Mine.md", "not pushed yet\n", push=False)
    with pytest.raises(TherapyError, match="has commits that origin/master does not have"):
        sessions.publish(demo, str(clone))
    with pytest.raises(TherapyError, match="has the branch master checked out, not pages"):
        sessions.publish(demo, str(clone), branch="pages")


def test_a_clone_without_a_remote_is_only_committed(
    tmp_path: Path, sessions: Sessions, demo: str
) -> None:
    local = tmp_path / "local-wiki"
    git("init", "--quiet", str(local))  # not even a first commit
    done = sessions.publish(demo, str(local))
    assert (done.pushed, done.where, done.branch) == (False, str(local), "master")
    assert done.commit == git("rev-parse", "--short", "HEAD", cwd=local).strip()
    assert done.notes == []
    assert git("status", "--porcelain", "--untracked-files=all", cwd=local) == ""
    assert sorted(git("ls-files", cwd=local).split()) == sorted(
        [f"{INDEX}.md", f"{PLAN.format(code=demo)}.md"]
    )


# -- identity ----------------------------------------------------------------------------


def test_without_a_git_identity_the_commit_says_whose_it_is(
    tmp_path: Path, bare: Path, data_dir: Path, demo: str
) -> None:
    empty = tmp_path / "empty-home"
    empty.mkdir()
    env = {**os.environ, "HOME": str(empty), "GIT_CONFIG_GLOBAL": "/dev/null"}
    status, out, err = therapy(data_dir, "publish", demo, "--wiki", str(bare), env=env)
    assert status == 0, err
    login = re.sub(r"[^A-Za-z0-9._-]", "", getpass.getuser())
    host = re.sub(r"[^A-Za-z0-9.-]", "", socket.gethostname()).strip(".")
    fallback = f"{login} <{login}@{host}>"
    assert out.splitlines()[1].startswith(
        f"No git identity is configured here, so the commit carries {fallback} "
    )
    assert head(bare, "%an <%ae>|%cn <%ce>").strip() == f"{fallback}|{fallback}"


def test_the_identity_said_is_the_one_git_uses(
    clone: Path, seeded: Path, sessions: Sessions, demo: str
) -> None:
    """A clone's own identity wins over the global one, in the commit and in what is said."""
    git("config", "user.name", "Local Person", cwd=clone)
    git("config", "user.email", "local@example.com", cwd=clone)
    done = sessions.publish(demo, str(clone), message="Publish as the clone's person")
    assert (done.identity, done.fallback) == ("Local Person <local@example.com>", False)
    assert head(seeded, "%an <%ae>|%cn <%ce>").strip() == f"{done.identity}|{done.identity}"


def test_without_an_identity_an_author_given_in_the_environment_stays(
    tmp_path: Path, bare: Path, data_dir: Path, demo: str
) -> None:
    empty = tmp_path / "empty-home"
    empty.mkdir()
    env = {
        **os.environ,
        "HOME": str(empty),
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_AUTHOR_NAME": "Author Env",
        "GIT_AUTHOR_EMAIL": "author@example.com",
    }
    status, _, err = therapy(data_dir, "publish", demo, "--wiki", str(bare), env=env)
    assert status == 0, err
    assert head(bare, "%an <%ae>").strip() == "Author Env <author@example.com>"


def test_a_later_day_with_nothing_changed_makes_no_commit(bare: Path, data_dir: Path) -> None:
    """The plan is dated by its session, not by the day it is published."""
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Dated", ["Sales", "Marketing"], pair="Dating").code
    sessions.add_complaint(code, "Sales", "Leads are cold")
    sessions.set_phase(code, "close")
    for day in ("2026-11-27", "2026-11-28", "2027-02-01"):
        env = {**os.environ, "THERAPY_NOW": f"{day}T10:00:00+00:00"}
        status, out, err = therapy(data_dir, "publish", code, "--wiki", str(bare), env=env)
        assert status == 0, err
    assert count(bare) == 1 and out.startswith("Nothing changed"), out
    page = show(bare, f"master:Dating-2026-11-27-{code}.md")
    assert page.splitlines()[2].startswith("2026-11-27 · Sales × Marketing")


def test_a_branch_given_as_a_ref_is_refused(bare: Path, sessions: Sessions, demo: str) -> None:
    with pytest.raises(TherapyError, match="is not a branch name"):
        sessions.publish(demo, str(bare), branch="refs/heads/wiki")
    assert git("--git-dir", str(bare), "for-each-ref") == ""


# -- hostile text ------------------------------------------------------------------------


class Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            assert [name for name, _ in attrs] == ["href"], attrs
            self.hrefs.append(dict(attrs)["href"] or "")

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"an HTML comment: {data}")


MARKUP = {"h1", "h2", "h3", "p", "table", "thead", "tbody", "tr", "th", "td", "a", "ul", "li"}


def test_hostile_text_stays_text_on_the_wiki(
    tmp_path: Path, seeded: Path, sessions: Sessions
) -> None:
    if shutil.which("cmark-gfm") is None:
        pytest.skip("cmark-gfm renders the pages as GitHub does (apt-get install cmark-gfm)")
    evil = "<script>alert(1)</script> [x](http://evil.example) [[Home]] www.evil.com ![i](y)"
    code = sessions.create(
        f"Retro\x1b]0;pwned\x07 {evil}", ["Sales <b>", "Mark|eting"], pair=f"Ü {evil[:50]}"
    ).code
    sessions.set_phase(code, "vent")
    sessions.add_complaint(code, "Sales <b>", f"{evil} | --- | <img src=x onerror=alert(1)>")
    done = sessions.publish(code, str(seeded), message=f"Hello\x1b[2J\x07 {evil}")
    names = set(done.pages)
    assert all(re.fullmatch(r"[A-Za-z0-9-]+", name) for name in names)
    message = head(seeded, "%B")
    assert "\x1b" not in message and "\x07" not in message and code in message
    for name in names:
        page = show(seeded, f"master:{name}.md")
        rendered = subprocess.run(
            ["cmark-gfm", "-e", "table", "-e", "tasklist", "-e", "autolink", "-e", "strikethrough"],
            input=page,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        parser = Tags()
        parser.feed(rendered)
        assert set(parser.tags) <= MARKUP | {"hr", "strong", "em"}, set(parser.tags) - MARKUP
        assert parser.hrefs and set(parser.hrefs) <= names, parser.hrefs
        assert "<script" not in rendered and "<img" not in rendered and "<b>" not in rendered
        assert "&lt;script&gt;" in rendered  # shown, as typed


# -- over SSH ----------------------------------------------------------------------------


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The loopback sshd, and the ssh command of a person whose key it accepts."""
    require_tools()
    with running_sshd(tmp_path / "sshd", "") as server:
        ssh = (
            f"ssh -F /dev/null -i {server.folder / 'client'} -o IdentitiesOnly=yes "
            "-o IdentityAgent=none -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
            "-o LogLevel=ERROR -o ConnectTimeout=10"
        )
        yield ssh, server.port


def test_publish_over_ssh(
    sshd: tuple[str, int],
    seeded: Path,
    data_dir: Path,
    sessions: Sessions,
    demo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ssh, port = sshd
    login = f"{getpass.getuser()}@127.0.0.1"
    # the person's own GIT_SSH_COMMAND is used as it is (without it this key is not offered)
    url = f"ssh://{login}:{port}{seeded}"
    env = {**os.environ, "GIT_SSH_COMMAND": ssh}
    status, out, err = therapy(data_dir, "publish", demo, "--wiki", url, env=env)
    assert status == 0, err
    assert f"pushed to {url} (master)" in out
    assert f"{INDEX}.md" in files(seeded)
    # so is their core.sshCommand; and the scp-like form of the same wiki: nothing changed
    config = Path(os.environ["GIT_CONFIG_GLOBAL"])
    config.write_text(config.read_text() + f"[core]\n\tsshCommand = {ssh} -p {port}\n")
    assert sessions.publish(demo, f"{login}:{seeded}").commit is None
    # neither: batch mode, so a key ssh lacks (or a host it does not know) is one sentence
    config.write_text(config.read_text().split("[core]")[0])
    with pytest.raises(TherapyError, match="no access to it|does not know the host's key"):
        sessions.publish(demo, url)
    assert count(seeded) == 2


def test_publishing_to_a_wiki_whose_path_has_a_format_character_publishes_and_stores_none(
    tmp_path: Path,
) -> None:
    """The wiki a plan went to is kept to be offered next time, but only as text the session
    file may hold: a path with a format character in it ('team\\u200b.wiki.git') is
    published to and not kept, and the session still reads back."""
    sessions = Sessions(Store(tmp_path / "data"))
    code = sessions.create("Q3 lead handoff", ["Sales", "Marketing"]).code
    wiki_path = tmp_path / "team\u200b.wiki.git"
    git("init", "--bare", "--quiet", str(wiki_path))
    done = sessions.publish(code, str(wiki_path))
    assert done.pushed
    assert sessions.session(code).title == "Q3 lead handoff"  # still readable
    assert sessions.session(code).wiki == ""
    assert count(wiki_path) == 1
