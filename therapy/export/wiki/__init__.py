"""Publishing to a git wiki (GitHub and GitLab wikis are git repositories): the names of
the pages, the pair's index page, and the git work: fetch, one commit, push.

The commit is built with git's plumbing (ls-tree, hash-object, mktree, commit-tree) on top
of the branch's tip, so no work tree is ever checked out: a wiki reached by URL (or a bare
repository on disk) is fetched shallowly into a temporary bare repository that is deleted
afterwards, and a person's working clone is left alone until the push has succeeded, then
fast-forwarded. A push that loses a race (someone pushed in between) is built again on the
new tip: the pages are generated, so this never conflicts.

A login in the wiki's URL reaches git by its environment only (credentials.py), and the
temporary repository that a killed publish left behind is removed by the next (scratch.py).
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import shlex
import signal
import socket
import subprocess
import unicodedata
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC
from functools import cache
from pathlib import Path

from therapy.clock import parse_instant
from therapy.export import _environment, markdown_text
from therapy.export.wiki.credentials import Login, held_login, redact, split_login, with_config
from therapy.export.wiki.scratch import scratch, sweep
from therapy.model import SessionPoint, TherapyError, Trend
from therapy.prompts import shipped_folder
from therapy.text import clean_line, shown

# The last line of every page therapy writes: how a page is known to be ours (user text
# cannot make it: the md filter escapes its underscores). An index page names its pair.
MARKER = "_Published by therapy: changes made here are replaced at the next publish._"
PAIR_MARKER = (
    "_Published by therapy for pair {}: changes made here are replaced at the next publish._"
)
RESERVED = {"home", "_sidebar", "_footer", "_header"}  # the wiki's own pages: never ours
TRIES = 5  # pushes rejected because someone else pushed first, before giving up
NETWORK_SECONDS = 60  # ls-remote, fetch, push
LOCAL_SECONDS = 30  # every other git call
FALLBACK_NAME = "therapy"
# Letters that NFKD does not take apart into an ASCII letter and a mark.
_LETTERS = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "ł": "l",
        "Ł": "L",
        "þ": "th",
        "Þ": "Th",
        "ı": "i",
        "ħ": "h",
        "Ħ": "H",
        "×": "x",
    }
)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP = re.compile(r"^[^/:]+:")  # git's own rule: host:path, a colon before any slash
_LINKABLE = re.compile(r"[A-Za-z0-9-]+\Z")
_NOT_TRUSTED = re.compile(r"dubious ownership in repository at '([^'\n]*)'")
# A push that lost a race: rejected by this side, or by the server's compare-and-swap.
_REJECTED = ("non-fast-forward", "fetch first", "cannot lock ref")
# What git's messages mean, for the one sentence a person reads (LC_ALL=C: in English).
_REASONS = (
    (
        (
            "repository not found",
            "does not appear to be a git repository",
            "could not be found",
            "' not found",
        ),
        "there is no such repository (a GitHub wiki has one once its first page is saved on "
        "the web); check the URL",
    ),
    (
        (
            "permission denied",
            "authentication failed",
            "could not read username",
            "error: 401",
            "error: 403",
            "insufficient permission",
        ),
        "you have no access to it; check your SSH key or token, or ask for write access",
    ),
    (
        ("host key verification failed",),
        "ssh does not know the host's key yet; connect once with ssh to accept it",
    ),
    (
        (
            "could not resolve",
            "connection refused",
            "failed to connect",
            "timed out",
            "unreachable",
            "no route",
        ),
        "it cannot be reached; check the network and the URL",
    ),
    (
        ("hook declined", "protected branch", "read-only", "read only"),
        "the wiki refused the push; check that you may write to it",
    ),
)


@dataclass(frozen=True)
class PlanPage:
    """The plan of the session being published, as the wiki shows it."""

    code: str
    title: str
    pair_label: str  # the session's own spelling of its pair: part of the page's name
    created: str  # an instant
    markdown: str


@dataclass
class Publication:
    """What a publish did."""

    pages: list[str]  # the page names written (the wiki's names: no .md)
    commit: str | None  # short hash; None when nothing changed
    where: str  # the remote (without credentials), or the clone's folder
    branch: str
    pushed: bool
    identity: str  # "Name <email>" that the commit carries
    fallback: bool  # no identity was configured: therapy made this one up
    notes: list[str] = field(default_factory=list)  # one sentence each (a clone left behind)
    wiki: str = ""  # what to give again to publish to the same place (no credentials)

    def said(self) -> list[str]:
        """What was done, a sentence each: for the shell and the app alike."""
        pages = " and ".join(self.pages)
        if self.commit is None:
            return [
                f"Nothing changed on {self.where} ({self.branch}) since {pages} were last "
                "published, so there is no new commit."
            ]
        where = (
            f"pushed to {self.where} ({self.branch})"
            if self.pushed
            else f"committed to {self.where} ({self.branch}) only: it has no upstream to push to"
        )
        said = [f"Published {pages} in commit {self.commit}, {where}."]
        if self.fallback:
            said.append(
                f"No git identity is configured here, so the commit carries {self.identity} "
                "(set yours with git config --global user.name and user.email)."
            )
        else:
            said.append(f"The commit carries {self.identity}.")
        return said + self.notes


class GitFailed(Exception):
    def __init__(self, args: Sequence[str], stderr: str, timed_out: bool = False) -> None:
        super().__init__(stderr)
        self.argv = list(args)
        self.stderr = stderr
        self.timed_out = timed_out

    @property
    def lines(self) -> list[str]:
        return [line.strip() for line in self.stderr.splitlines() if line.strip()]

    def reason(self) -> str:
        """git's own reason, short: the line that says what went wrong, quoted."""
        lines = self.lines
        for needles, _ in _REASONS:
            for line in lines:
                if any(needle in line.lower() for needle in needles):
                    return _quoted(line)
        for prefix in ("fatal:", "!", "remote: error:", "error:", "remote:"):
            found = [line for line in lines if line.startswith(prefix)]
            if found:
                return _quoted(found[0])
        return _quoted(lines[-1]) if lines else "no reason given"

    def meaning(self) -> str | None:
        text = self.stderr.lower()
        for needles, meaning in _REASONS:
            if any(needle in text for needle in needles):
                return meaning
        return None


def _quoted(line: str) -> str:
    for prefix in ("fatal:", "error:", "remote:"):
        line = line.removeprefix(prefix).strip()
    return shown(redact(line), 120).replace("'", "’")


# -- page names -------------------------------------------------------------------------


def slug(text: str, limit: int = 60) -> str:
    """ASCII letters and digits joined by hyphens (a name that GitHub and GitLab wikis both
    keep as typed); letters with accents lose them, other scripts are dropped."""
    folded = unicodedata.normalize("NFKD", clean_line(text).translate(_LETTERS))
    words = re.findall(r"[A-Za-z0-9]+", folded.encode("ascii", "ignore").decode())
    kept: list[str] = []
    for word in words:
        if len("-".join([*kept, word])) > limit:
            break
        kept.append(word)
    return "-".join(kept) if kept or not words else words[0][:limit]


def plan_page_name(pair_label: str, created: str, code: str) -> str:
    """EMEA-revenue-2026-11-27-K7QX2M: the pair, the day the session was made (in UTC, the
    same on every host) and its code; never empty."""
    try:
        day = parse_instant(created).astimezone(UTC).date().isoformat()
    except ValueError:
        day = slug(created[:10])
    return "-".join(part for part in (slug(pair_label) or "Retro", day, slug(code)) if part)


def pair_mark(key: str) -> str:
    """A pair's short fingerprint (of its key), on its index page: two pairs whose names
    give the same page name (a demo copy and the real pair, say) never share one."""
    return hashlib.sha1(key.encode()).hexdigest()[:8]


def index_page_names(label: str, key: str) -> tuple[str, str, str]:
    """The pair's index page, and the names taken, in turn, when a page that therapy did not
    write (or another pair's) already has it. A label with no ASCII letter gets a name from
    its key."""
    name = slug(label) or f"Pair-{pair_mark(key)}"
    if name.casefold() in RESERVED:
        name += "-sessions"
    return name, name + "-retros", f"{name}-{pair_mark(key)}"


# -- the pages --------------------------------------------------------------------------


@dataclass
class _Row:
    point: SessionPoint
    page: str | None  # the page of its plan in the wiki, when it has one


def render_index(trend: Trend, pages: dict[str, str]) -> str:
    """The pair's sessions, newest first; PAGES: the plan page of each session (by code)
    that is in the wiki: only those are links."""
    rows = [_Row(point, pages.get(point.code)) for point in reversed(trend.points)]
    template = _environment(str(shipped_folder("templates"))).get_template("wiki-pair.md.j2")
    marker = PAIR_MARKER.format(pair_mark(trend.pair))
    return template.render(label=trend.label, rows=rows, skipped=trend.skipped, marker=marker)


def plan_with_footer(plan: PlanPage, index: str, label: str) -> str:
    return (
        plan.markdown.rstrip("\n")
        + f"\n\n---\n\n[All sessions of {markdown_text(label)}]({index})\n\n{MARKER}\n"
    )


def _ours(text: str, pair: str | None = None) -> bool:
    """Whether therapy wrote the page (for PAIR, when given: that pair's index page)."""
    lines = text.splitlines()
    if pair is not None:
        return PAIR_MARKER.format(pair_mark(pair)) in lines
    head, tail = MARKER.split(":", 1)
    return any(line.startswith(head) and line.endswith(tail) for line in lines)


# -- git --------------------------------------------------------------------------------


def _git_environment(
    user_ssh: bool, login: Login | None = None, held: dict[str, str] | None = None
) -> dict[str, str]:
    """Never a prompt: no terminal prompt and no askpass program for credentials, ssh in
    batch mode unless the person set their own ssh command (theirs may need its options);
    messages in English, which the reasons above are read from; no GIT_DIR of an enclosing
    hook; the LOGIN taken out of the wiki's URL, by the environment only, and a clone's
    remote URLs that HELD one read without it."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in (
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_OBJECT_DIRECTORY",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            "GIT_COMMON_DIR",
            "GIT_NAMESPACE",
            "GIT_PREFIX",
            "GIT_ASKPASS",
            "SSH_ASKPASS",
            "GIT_CONFIG_PARAMETERS",  # a `git -c` that ran therapy: git reads it after ours
        )
    }
    env.update(GIT_TERMINAL_PROMPT="0", GCM_INTERACTIVE="never", LC_ALL="C")
    env = with_config(env, ("core.askPass", ""))  # nor the askpass of a config file
    if not user_ssh and not env.get("GIT_SSH_COMMAND") and not env.get("GIT_SSH"):
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    rewrites = [(f"url.{bare}.insteadOf", url) for url, bare in (held or {}).items()]
    env = with_config(env, *rewrites)
    return login.environment(env) if login else env


class _Git:
    """git in one repository: a work tree's folder, or a bare repository."""

    def __init__(self, folder: Path, bare: bool) -> None:
        self.where = ["--git-dir", str(folder)] if bare else ["-C", str(folder)]
        self.user_ssh = True  # until the config is read (see configure)
        self.login: Login | None = None
        self.held: dict[str, str] = {}

    @property
    def env(self) -> dict[str, str]:
        return _git_environment(self.user_ssh, self.login, self.held)

    def use(self, login: Login | None, held: dict[str, str] | None = None) -> None:
        """Gives git LOGIN (taken out of a URL) by its environment, and has it read each of
        a clone's remote URLs in HELD as the URL without its login."""
        self.login, self.held = None, held or {}
        # A user name alone (https://alice@bitbucket.org/...) is a user whose password the
        # person's helpers hold, or a token (GitHub takes one as the user): theirs answer
        # for it if they can, as they did for the URL as typed; if not, it is a token.
        if login is not None and not login.password and self._helped(login):
            login = replace(login, helped=True)
        self.login = login

    def _helped(self, login: Login) -> bool:
        """Whether the person's credential helpers give a password for LOGIN's user (asked
        on stdin, no prompt): nothing is kept, git credential fill only asks."""
        try:
            said = self.run("credential", "fill", data=login.asked(), network=True, check=False)
        except GitFailed:  # a helper that takes too long
            return False
        return "\npassword=" in "\n" + said

    def configure(self) -> dict[str, str]:
        """Reads the config that matters here (identity, ssh command) in one call."""
        found = self.run(
            "config", "--get-regexp", r"^(user\.name|user\.email|core\.sshcommand)$", check=False
        )
        config: dict[str, str] = {}
        for line in found.splitlines():
            key, _, value = line.partition(" ")
            config[key.lower()] = value  # system, global, then local: git takes the last
        self.user_ssh = "core.sshcommand" in config
        return config

    def run(
        self,
        *args: str,
        data: str | bytes | None = None,
        network: bool = False,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> str:
        return self.raw(*args, data=data, network=network, check=check, env=env).decode(
            "utf-8", "surrogateescape"
        )

    def raw(
        self,
        *args: str,
        data: str | bytes | None = None,
        network: bool = False,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> bytes:
        argv = ["git", *self.where, *args]
        try:
            # its own session: no terminal to prompt on, and one group to stop (ssh with it)
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**self.env, **(env or {})},
                start_new_session=True,
            )
        except FileNotFoundError:
            raise TherapyError(
                "therapy publish needs git, which is not installed here; install it "
                "(Debian/Ubuntu: apt-get install git) and publish again."
            ) from None
        try:
            out, err = process.communicate(
                data.encode() if isinstance(data, str) else data,
                timeout=NETWORK_SECONDS if network else LOCAL_SECONDS,
            )
        except subprocess.TimeoutExpired:
            _stop(process)
            raise GitFailed(argv, "", timed_out=True) from None
        except BaseException:  # Ctrl-C: git and its ssh go too
            _stop(process)
            raise
        if check and process.returncode != 0:
            raise GitFailed(argv, err.decode("utf-8", "replace"))
        return out

    def line(self, *args: str, check: bool = True, data: bytes | None = None) -> str:
        return self.run(*args, check=check, data=data).strip()


def _stop(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


@dataclass
class _Target:
    """Where the commit goes: a remote (URL or path), or a working clone's branch."""

    remote: str | None  # what git pushes to: a URL, a path, or a clone's remote's name
    where: str  # shown to people
    clone: Path | None = None  # a working clone: its top folder
    empty_branch: str = "master"  # the branch of an empty repository with no --branch
    given: str = ""  # what to give again to publish here: without credentials, a path whole
    login: Login | None = None  # taken out of the URL: git gets it by its environment


def _locate(target: str) -> _Target:
    wiki = target.strip()
    if not wiki:
        raise TherapyError("Give the wiki with --wiki: its git URL or the path of a clone.")
    path = Path(wiki).expanduser()
    if wiki.startswith("-"):
        raise TherapyError(f"'{shown(wiki)}' is not a wiki; give its git URL or a path.")
    if _URL.match(wiki) or (_SCP.match(wiki) and not path.exists()):
        # what git is given holds no login (split_login refuses one it cannot take out), and
        # is exact where greedy redaction is not (an @ in its path)
        remote, login = split_login(wiki)
        return _Target(remote, shown(remote, 200), given=remote, login=login)
    if not path.is_dir():
        raise TherapyError(
            f"There is no folder {shown(path, 200)}; give the wiki's git URL (https://, "
            "ssh://, git@host:path) or the path of a clone of it."
        )
    git = _Git(path, bare=False)
    try:
        bare, git_dir = git.line("rev-parse", "--is-bare-repository", "--absolute-git-dir").split(
            "\n"
        )
        top = git_dir if bare == "true" else git.line("rev-parse", "--show-toplevel")
    except GitFailed as error:
        raise _not_trusted(error) or _not_a_repository(path) from None
    except ValueError:
        raise _not_a_repository(path) from None
    if Path(top).resolve() != path.resolve():
        raise TherapyError(
            f"{shown(path, 200)} is inside the git repository {shown(top, 200)}, not at its "
            "top; give the wiki's own folder."
        )
    if bare == "true":
        head = git.line("symbolic-ref", "--short", "-q", "HEAD", check=False)
        return _Target(
            str(path.resolve()), str(path), empty_branch=head or "master", given=str(path.resolve())
        )
    return _Target(None, str(path), clone=path.resolve(), given=str(path.resolve()))


def _not_a_repository(path: Path) -> TherapyError:
    return TherapyError(
        f"{shown(path, 200)} is not a git repository; give the wiki's git URL or the path "
        "of a clone of it (git clone URL)."
    )


def _not_trusted(error: GitFailed) -> TherapyError | None:
    """git's refusal of a repository that another user owns (its safe.directory check)."""
    found = _NOT_TRUSTED.search(error.stderr)
    if found is None:
        return None
    path = shown(found[1], 500)
    return TherapyError(
        f"{path} belongs to another user, so git will not work in it; if you trust it, run "
        f"git config --global --add safe.directory {shlex.quote(path)}, or publish to a "
        "clone of your own."
    )


def _failure(error: GitFailed, doing: str, where: str) -> TherapyError:
    if (untrusted := _not_trusted(error)) is not None:
        return untrusted
    if error.timed_out:
        return TherapyError(
            f"git got no answer from {where} within {NETWORK_SECONDS} s while {doing}; "
            "check the network and the URL, then publish again."
        )
    meaning = error.meaning() or "git could not do it"
    return TherapyError(
        f"Could not publish to {where} while {doing}: {meaning} (git says: '{error.reason()}')."
    )


Content = Callable[[], tuple[PlanPage, Trend]]


def publish(wiki: str, content: Content, branch: str | None, message: str) -> Publication:
    """Writes the session's plan page and its pair's index page into the wiki WIKI, in one
    commit on BRANCH (default: the wiki's default branch), and pushes it. CONTENT makes the
    plan and the pair's trend: called once, when the wiki has been reached (a wrong URL is
    said before the plan is worked out)."""
    target = _locate(wiki)
    sweep()  # what a killed publish left goes at the next, whatever its wiki
    content = cache(content)
    doing = "writing the pages"
    try:
        if target.clone is not None:
            done = _publish_clone(target, target.clone, content, branch, message)
        else:
            with scratch() as folder:
                git = _Git(folder, bare=True)
                git.run("init", "--bare", "--quiet")
                git.use(target.login)  # once it is a repository: it may ask git's helpers
                done = _publish_remote(target, git, content, branch, message)
        done.wiki = target.given
        return done
    except _Doing as step:
        raise _failure(step.error, step.doing, target.where) from None
    except GitFailed as error:
        raise _failure(error, doing, target.where) from None


class _Doing(Exception):
    """A git failure, with what therapy was doing at the time."""

    def __init__(self, doing: str, error: GitFailed) -> None:
        super().__init__(doing)
        self.doing, self.error = doing, error


def _step(doing: str, git: _Git, *args: str, network: bool = False) -> str:
    try:
        return git.run(*args, network=network)
    except GitFailed as error:
        raise _Doing(doing, error) from None


def _check_branch(git: _Git, branch: str) -> str:
    name = clean_line(branch)
    ok = name and not name.startswith(("-", "refs/")) and "@{" not in name
    checked = git.run("check-ref-format", "--branch", name, check=False).strip() if ok else ""
    if checked != name:
        raise TherapyError(f"'{shown(branch)}' is not a branch name; give one like master.")
    return name


def _fetch(git: _Git, remote: str, branch: str, shallow: bool = True) -> str | None:
    """The tip of BRANCH on REMOTE, fetched into a ref of therapy's own (SHALLOW: its last
    commit only; never in a person's clone, which would become shallow); None when the
    branch does not exist (an empty wiki)."""
    try:
        git.run(
            "fetch",
            "--quiet",
            *(["--depth=1"] if shallow else []),
            "--no-tags",
            "--no-write-fetch-head",
            "--refmap=",  # leaves the remote-tracking refs of a person's clone alone
            "--end-of-options",
            remote,
            f"+refs/heads/{branch}:refs/therapy/publish",
            network=True,
        )
    except GitFailed as error:
        if "couldn't find remote ref" in error.stderr.lower():
            return None
        raise _Doing("fetching it", error) from None
    return git.line("rev-parse", "refs/therapy/publish^{commit}")


def _push(git: _Git, remote: str, commit: str, branch: str) -> bool:
    """Pushes COMMIT to BRANCH; False when someone else pushed first (build it again)."""
    try:
        git.run(
            "push",
            "--quiet",
            "--end-of-options",
            remote,
            f"{commit}:refs/heads/{branch}",
            network=True,
        )
    except GitFailed as error:
        lost = any(word in error.stderr for word in _REJECTED)
        if lost and not error.timed_out and "permission denied" not in error.stderr.lower():
            return False
        raise _Doing("pushing to it", error) from None
    return True


def _identity(git: _Git, config: dict[str, str]) -> tuple[str, bool, dict[str, str]]:
    """The identity the commit carries: the configured one, else the login name and
    login@host (said so in the output). Its text, whether it is the fallback, and the
    environment that gives it to git."""
    name = os.environ.get("GIT_COMMITTER_NAME") or config.get("user.name", "")
    email = (
        os.environ.get("GIT_COMMITTER_EMAIL")
        or config.get("user.email", "")
        or os.environ.get("EMAIL", "")
    )
    if name and email:
        return f"{name} <{email}>", False, {}
    try:
        login = re.sub(r"[^A-Za-z0-9._-]", "", getpass.getuser()) or FALLBACK_NAME
    except (KeyError, OSError):  # no passwd entry (a container's odd user id)
        login = FALLBACK_NAME
    host = re.sub(r"[^A-Za-z0-9.-]", "", socket.gethostname()).strip(".") or "localhost"
    name, email = name or login, email or f"{login}@{host}"
    made = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    env = {key: value for key, value in made.items() if not os.environ.get(key)}  # yours win
    return f"{name} <{email}>", True, env


@dataclass
class _Commit:
    sha: str | None  # None: the tree is the same as the base's
    pages: list[str]


def _build(
    git: _Git,
    base: str | None,
    content: Content,
    message: str,
    identity: dict[str, str],
) -> _Commit:
    """The commit of the two pages on top of BASE (None: the first commit of the wiki)."""
    plan, trend = content()
    entries: list[bytes] = []
    if base:
        entries = [e for e in git.raw("ls-tree", "-z", base).split(b"\0") if e]
    files = {
        entry.split(b"\t", 1)[1].decode("utf-8", "surrogateescape"): entry for entry in entries
    }
    stems = {name[:-3]: name for name in files if name.endswith(".md")}

    def text_of(stem: str) -> str:
        blob = files[stems[stem]].split(b"\t", 1)[0].split(b" ")[2].decode()
        return git.run("cat-file", "blob", blob)

    def folded(name: str) -> str | None:
        """The page of that name in any case (a page keeps its first spelling)."""
        return next((stem for stem in stems if stem.casefold() == name.casefold()), None)

    suffix = f"-{slug(plan.code)}"
    # only a name therapy could have made goes into the index's links: it needs no escaping
    made = [s for s in sorted(stems) if s.endswith(suffix) and _LINKABLE.match(s)]
    plan_name = next(
        (s for s in made if _ours(text_of(s))),
        plan_page_name(plan.pair_label, plan.created, plan.code),
    )
    found = folded(plan_name)
    if found is not None and not _ours(text_of(found)):
        raise TherapyError(
            f"The wiki already has a page {found} that therapy did not write; rename or move "
            "it, then publish again."
        )
    plan_name = found or plan_name
    index_name = None
    for candidate in index_page_names(trend.label, trend.pair):
        found = folded(candidate)
        if found is None or _ours(text_of(found), trend.pair):
            index_name = found or candidate
            break
    if index_name is None:
        taken = " and ".join(index_page_names(trend.label, trend.pair))
        raise TherapyError(
            f"The wiki already has pages {taken} that therapy did not write for this pair; "
            "rename one of them, then publish again."
        )
    codes = {point.code: slug(point.code) for point in trend.points}
    linked = {
        # only a name therapy could have made goes into a link: it needs no escaping
        code: next(
            (s for s in sorted(stems) if s.endswith(f"-{page_code}") and _LINKABLE.match(s)),
            None,
        )
        for code, page_code in codes.items()
    }
    linked[plan.code] = plan_name
    pages = {
        plan_name: plan_with_footer(plan, index_name, trend.label),
        index_name: render_index(trend, {c: p for c, p in linked.items() if p}),
    }
    for stem, text in pages.items():
        blob = git.run("hash-object", "-w", "--stdin", "--no-filters", data=text).strip()
        entry = f"100644 blob {blob}\t{stem}.md".encode()
        files[stems.get(stem, stem + ".md")] = entry
    tree = git.line("mktree", "-z", data=b"".join(e + b"\0" for e in files.values()))
    names = list(pages)
    if base and tree == git.line("rev-parse", f"{base}^{{tree}}"):
        return _Commit(None, names)
    parents = ["-p", base] if base else []
    sha = git.run("commit-tree", tree, *parents, "-F", "-", data=message, env=identity).strip()
    return _Commit(sha, names)


def _short(git: _Git, sha: str) -> str:
    return git.line("rev-parse", "--short", sha)


def _publish_remote(
    target: _Target, git: _Git, content: Content, branch: str | None, message: str
) -> Publication:
    """A wiki by URL or a bare repository: fetched into the temporary repository GIT."""
    assert target.remote is not None
    config = git.configure()
    identity, fallback, env = _identity(git, config)
    heads = _step(
        "reading it", git, "ls-remote", "--symref", "--end-of-options", target.remote, network=True
    )
    default = re.search(r"^ref: refs/heads/(\S+)\tHEAD$", heads, re.M)
    name = _check_branch(git, branch) if branch else default[1] if default else ""
    if not name:
        name = target.empty_branch if not heads.strip() else "master"
    exists = f"\trefs/heads/{name}\n" in heads + "\n"
    source = default[1] if default and f"\trefs/heads/{default[1]}\n" in heads + "\n" else None
    for _attempt in range(TRIES):
        base = _fetch(git, target.remote, name) if exists else None
        new = base is None and source is not None and source != name
        if new:
            base = _fetch(git, target.remote, str(source))  # a new branch starts from there
        exists = True  # a second try fetches: someone made the branch meanwhile
        built = _build(git, base, content, message, env)
        result = Publication(built.pages, None, target.where, name, False, identity, fallback)
        sha = built.sha or (base if new else None)  # a new branch is pushed, changed or not
        if sha is None:
            return result
        if _push(git, target.remote, sha, name):
            result.commit, result.pushed = _short(git, sha), True
            return result
    raise TherapyError(
        f"Others pushed to {target.where} each time therapy tried ({TRIES} times); publish "
        "again in a moment."
    )


def _publish_clone(
    target: _Target,
    top: Path,
    content: Content,
    branch: str | None,
    message: str,
) -> Publication:
    """A person's working clone: committed there, pushed to its upstream if it has one; the
    clone is only changed once the push has succeeded (a fast-forward)."""
    git = _Git(top, bare=False)
    config = git.configure()
    identity, fallback, env = _identity(git, config)
    current = git.line("symbolic-ref", "--short", "-q", "HEAD", check=False)
    if not current:
        raise TherapyError(
            f"{target.where} has no branch checked out (a detached HEAD); check out the "
            "wiki's branch there, then publish again."
        )
    if branch and _check_branch(git, branch) != current:
        raise TherapyError(
            f"{target.where} has the branch {shown(current)} checked out, not "
            f"{shown(branch)}; switch to it there, or leave out --branch."
        )
    if git.line("rev-parse", "-q", "--verify", "MERGE_HEAD", check=False):
        raise TherapyError(
            f"{target.where} is in the middle of a merge; finish or abort it there, then "
            "publish again."
        )
    local = git.line("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False) or None
    remote = git.line("config", f"branch.{current}.remote", check=False)
    merge = git.line("config", f"branch.{current}.merge", check=False).removeprefix("refs/heads/")
    upstream = remote if remote and remote != "." and merge else None
    where = target.where
    if upstream:
        # where git fetches from, and every URL it pushes to: a login in any of them
        url = git.line("remote", "get-url", upstream, check=False)
        pushed = git.line("remote", "get-url", "--push", "--all", upstream, check=False)
        login, held = held_login([url, *pushed.splitlines()] if url else [])
        where = shown(held.get(url, url) or upstream, 200)
        git.use(login, held)
    try:
        for _attempt in range(TRIES):
            base = local
            if upstream:
                tip = _fetch(git, upstream, merge, shallow=False)
                if tip != local and (
                    local is None or tip is None or not _is_ancestor(git, local, tip)
                ):
                    raise TherapyError(
                        f"The branch {shown(current)} of {target.where} has commits that "
                        f"{shown(upstream)}/{shown(merge)} does not have (or the other way "
                        "round with nothing in common); push or pull there first, then "
                        "publish again."
                    )
                base = tip
            built = _build(git, base, content, message, env)
            _refuse_changes(git, target.where, built.pages)
            result = Publication(built.pages, None, where, current, False, identity, fallback)
            if built.sha is None:
                return result
            if upstream and not _push(git, upstream, built.sha, merge):
                continue
            result.commit, result.pushed = _short(git, built.sha), bool(upstream)
            _advance(git, current, local, built.sha, built.pages, result)
            return result
    finally:
        git.run("update-ref", "-d", "refs/therapy/publish", check=False)
    raise TherapyError(
        f"Others pushed to {where} each time therapy tried ({TRIES} times); publish again in "
        "a moment."
    )


def _is_ancestor(git: _Git, older: str, newer: str) -> bool:
    try:
        git.run("merge-base", "--is-ancestor", older, newer)
    except GitFailed:
        return False
    return True


def _refuse_changes(git: _Git, where: str, pages: list[str]) -> None:
    """A working clone's own changes to the pages we would write are never overwritten."""
    paths = [f"{name}.md" for name in pages]
    changed = git.run("status", "--porcelain", "--untracked-files=all", "--", *paths)
    if changed.strip():
        names = sorted({line[3:] for line in changed.splitlines()})
        raise TherapyError(
            f"{where} has changes to {' and '.join(shown(n) for n in names)} that are not "
            "committed; commit or discard them there, then publish again."
        )


def _advance(
    git: _Git, branch: str, local: str | None, commit: str, pages: list[str], result: Publication
) -> None:
    """Brings the working clone to the new commit: a fast-forward, as `git pull` would."""
    paths = [f"{name}.md" for name in pages]
    try:
        if local is None:  # an unborn branch: its first commit, and the two files in place
            git.run("update-ref", f"refs/heads/{branch}", commit, "")
            git.run("checkout", commit, "--", *paths)
        else:
            git.run("merge", "--ff-only", "--quiet", commit)
    except GitFailed as error:
        result.notes.append(
            f"Your clone could not be brought up to date (git says: '{error.reason()}'); run "
            "git pull there."
        )
