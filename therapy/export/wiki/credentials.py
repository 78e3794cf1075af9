"""Credentials in a wiki's URL: taken out before git runs and given to it by its
environment (a command line is readable by every user of the host, in `ps`), and hidden in
whatever is shown to people or kept."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from therapy.model import TherapyError
from therapy.text import shown

# Everything from an https URL's scheme up to the last @ on its line (the user part, a token,
# whatever it holds: an @, a slash, a space); of any other URL, the password (ssh://git@host
# keeps its user: it says who).
_HTTP_USER = re.compile(r"(?i)(https?://)[^\n]*@")
_PASSWORD = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/:@\s]*):[^\n]*@")
# A token as a query parameter (?private_token=, access_token=, token=, ...), and the & after.
_QUERY_SECRET = re.compile(r"(?i)([?&])[\w.-]*(?:token|password|secret)=[^&#\s'\"]*(&?)")
_HTTP_LOGIN = re.compile(r"(?is)(https?://)(.*)@")  # the user part of an http(s) URL
# git runs a credential helper with sh -c: this one reads the login from its environment.
_HELPER = (
    '!f() { test "$1" = get && printf "username=%s\\npassword=%s\\n" '
    '"$THERAPY_GIT_USERNAME" "$THERAPY_GIT_PASSWORD"; }; f'
)


def redact(text: str) -> str:
    """https://user:token@host/... is shown as https://host/..., ssh://git:pw@host/... as
    ssh://git@host/..., and a ?private_token=... is left out: before anything shortens the
    text (a long token would keep its tail), whatever the token holds."""
    text = _HTTP_USER.sub(r"\1", _PASSWORD.sub(r"\1@", text))
    return _QUERY_SECRET.sub(lambda found: found[1] if found[2] else "", text)


def with_config(env: dict[str, str], *pairs: tuple[str, str]) -> dict[str, str]:
    """ENV with git config given in it (GIT_CONFIG_*, after any it has): never on argv."""
    given = env.get("GIT_CONFIG_COUNT", "")
    count = int(given) if given.isdigit() else 0  # git refuses a bogus count anyway
    env = {**env, "GIT_CONFIG_COUNT": str(count + len(pairs))}
    for number, (key, value) in enumerate(pairs, start=count):
        env[f"GIT_CONFIG_KEY_{number}"], env[f"GIT_CONFIG_VALUE_{number}"] = key, value
    return env


@dataclass(frozen=True)
class Login:
    """A user name and password (or token) that were in a URL."""

    user: str
    password: str  # "" for https://TOKEN@host, as GitHub takes a token
    held: tuple[str, str] | None = None  # (URL without it, URL with it) of a clone's remote

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        """ENV with the login, and this helper as git's only one (the empty value empties the
        list): no helper of the person's is asked, or keeps the token."""
        pairs = [("credential.helper", ""), ("credential.helper", _HELPER)]
        if self.held is not None:  # git reads the remote's URL as the one without the login
            pairs.append((f"url.{self.held[0]}.insteadOf", self.held[1]))
        login = {"THERAPY_GIT_USERNAME": self.user, "THERAPY_GIT_PASSWORD": self.password}
        return with_config(env, *pairs) | login


def split_login(url: str) -> tuple[str, Login | None]:
    """An http(s) URL without its user part, and the login that was in it (decoded, as git
    decodes it); other URLs without a password (ssh never takes one from a URL)."""
    if _QUERY_SECRET.search(url):
        raise TherapyError(
            f"{shown(redact(url), 200)} carries a token in its query, where git would show "
            "it to every user of this host; give it as https://USER:TOKEN@host/... instead."
        )
    found = _HTTP_LOGIN.match(url)
    if found is None:
        return _PASSWORD.sub(r"\1@", url), None
    user, _, password = found[2].partition(":")
    login = Login(unquote(user), unquote(password))
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in login.user + login.password):
        raise TherapyError(
            f"The login in {shown(redact(url), 200)} has a control character; give the "
            "token as it is."
        )
    return found[1] + url[found.end() :], login


def held_login(url: str) -> Login | None:
    """The login in the URL of a clone's remote, which git would put on the command line of
    git-remote-https: given to git by its environment instead."""
    bare, login = split_login(url)
    return None if login is None else Login(login.user, login.password, held=(bare, url))
