"""Credentials in a wiki's URL: taken out before git runs and given to it by its
environment (a command line is readable by every user of the host, in `ps`), for the wiki's
own host only, and hidden in whatever is shown to people or kept."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from therapy.model import TherapyError
from therapy.text import shown

# Everything from an http(s) URL's scheme (a slash or two short too: git would read
# `https:/u:T@host` as host:path) up to the last @ (the user part, a token, whatever it
# holds: an @, a slash, a space); of any other URL, the password (ssh://git@host keeps its
# user: it says who).
_HTTP_USER = re.compile(r"(?i)(https?:/*)[^\n]*@")
_PASSWORD = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/:@\s]*):[^\n]*@")
# A token as a query parameter (?private_token=, access_token=, api_key=, sig=, ...), and the
# & after.
_QUERY_SECRET = re.compile(
    r"(?i)([?&])[\w.-]*(?:token|password|secret|key|sig(?:nature)?)=[^&#\s'\"]*(&?)"
)
_SPACE = re.compile(r"\s")  # a line break in a URL would hide its start from _HTTP_USER
# An http(s) URL: its scheme, its authority (user part and host, up to the first / ? or #:
# an @ after that is the path's) and the rest.
_HTTP_URL = re.compile(r"(?is)(https?://)([^/?#]*)(.*)")
# git runs a credential helper with sh -c: this one reads the login from its environment.
_HELPER = (
    '!f() { test "$1" = get && printf "username=%s\\npassword=%s\\n" '
    '"$THERAPY_GIT_USERNAME" "$THERAPY_GIT_PASSWORD"; }; f'
)


def redact(text: str) -> str:
    """https://user:token@host/... is shown as https://host/..., ssh://git:pw@host/... as
    ssh://git@host/..., and a ?private_token=... is left out: before anything shortens the
    text (a long token would keep its tail), whatever the token holds. Line breaks become
    spaces first."""
    text = _SPACE.sub(" ", text)
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
    """A user name and password (or token) that were in a URL, for the host it names."""

    user: str
    password: str = field(repr=False)  # "" for https://NAME@host: a user, or GitHub's token
    origin: str  # scheme://host[:port]: the only place git gives it to
    helped: bool = False  # the person's own credential helpers know the user: they answer

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        """ENV that gives git the login for its origin only (not a host that the wiki
        redirects to, nor a proxy that asks for a login): this helper as the origin's only
        one (the empty value empties the list), so no helper of the person's is given the
        token to keep. A user that their helpers know is only named, as the URL named it."""
        if self.helped:
            return with_config(env, (f"credential.{self.origin}.username", self.user))
        helper = f"credential.{self.origin}.helper"
        login = {"THERAPY_GIT_USERNAME": self.user, "THERAPY_GIT_PASSWORD": self.password}
        return with_config(env, (helper, ""), (helper, _HELPER)) | login

    def asked(self) -> str:
        """What `git credential fill` is given to ask the person's helpers about the user."""
        scheme, _, host = self.origin.partition("://")
        return f"protocol={scheme.lower()}\nhost={host}\nusername={self.user}\n\n"


def split_login(url: str) -> tuple[str, Login | None]:
    """An http(s) URL without its user part, and the login that was in it (decoded, as git
    decodes it); other URLs without a password (ssh never takes one from a URL). A URL
    that would keep something redaction hides (a login after a / or in a mistyped scheme, a
    line break) is refused: git would put it on a command line."""
    if _QUERY_SECRET.search(url):
        raise TherapyError(
            f"{shown(redact(url), 200)} carries a token in its query, where git would show "
            "it to every user of this host; give it as https://USER:TOKEN@host/... instead."
        )
    found = _HTTP_URL.fullmatch(url)
    user_part, at, host = found[2].rpartition("@") if found else ("", "", "")
    if found is None or not at:
        remote = url if found else _PASSWORD.sub(r"\1@", url)
        if redact(remote) != remote:
            raise TherapyError(
                f"therapy cannot take the login out of {shown(redact(url), 200)}, so git "
                "would show it to every user of this host; give it in one line as "
                "https://USER:TOKEN@host/path, with an @ in the token or the path written "
                "%40 and a / in the token %2F."
            )
        return remote, None
    user, _, password = user_part.partition(":")
    login = Login(unquote(user), unquote(password), found[1] + host)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in login.user + login.password):
        raise TherapyError(
            f"The login in {shown(redact(url), 200)} has a control character; give the "
            "token as it is."
        )
    return found[1] + host + found[3], login


def held_login(urls: list[str]) -> tuple[Login | None, dict[str, str]]:
    """The login in the URLs of a clone's remote (to fetch from and to push to), which git
    would put on the command line of git-remote-https, and each URL that held one (or an ssh
    password) with what git is to read it as: the URL without it (url.<that>.insteadOf)."""
    split = {url: split_login(url) for url in urls}
    logins = {login for _, login in split.values() if login is not None}
    if len(logins) > 1:
        raise TherapyError(
            f"The URLs of the wiki's remote hold {len(logins)} different logins; keep one "
            "(git remote set-url), then publish again."
        )
    held = {url: bare for url, (bare, _) in split.items() if bare != url}
    return next(iter(logins), None), held
