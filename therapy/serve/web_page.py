"""The browser door's page and its files: everything it answers over plain HTTP.

One page of our own (titled "therapy": textual-serve's titles itself with the command line and
its paths) and the five files it loads, read once; textual-serve's static folder is never
listed or served as a folder, and every other path, method or query is refused. Each answer
carries a strict Content-Security-Policy and closes its connection: a page's few files need
no connection kept open, and the door counts connections (therapy.serve.web_gate).
"""

from __future__ import annotations

from importlib.resources import files

from aiohttp import web

# What the page loads, from textual-serve's package (its static folder, never listed).
_TEXTUAL_SERVE = files("textual_serve") / "static"
_STATIC = {
    "/static/js/textual.js": (_TEXTUAL_SERVE / "js" / "textual.js", "text/javascript"),
    "/static/css/xterm.css": (_TEXTUAL_SERVE / "css" / "xterm.css", "text/css"),
    "/static/fonts/RobotoMono.ttf": (
        _TEXTUAL_SERVE / "fonts" / "RobotoMono-VariableFont_wght.ttf",
        "font/ttf",
    ),
    "/static/fonts/RobotoMono-Italic.ttf": (
        _TEXTUAL_SERVE / "fonts" / "RobotoMono-Italic-VariableFont_wght.ttf",
        "font/ttf",
    ),
    "/static/page.js": (files("therapy.serve") / "page.js", "text/javascript"),
}
_PAGE = files("therapy.serve") / "page.html"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "font-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
    "Server": "therapy",
}


class Pages:
    """The page and its files, read once when the door opens."""

    def __init__(self) -> None:
        self.page = _PAGE.read_bytes()
        self.static = {path: (file.read_bytes(), kind) for path, (file, kind) in _STATIC.items()}

    def answer(self, request: web.BaseRequest) -> web.StreamResponse:
        """The answer to a GET of anything but the websocket's path."""
        if request.path == "/":
            if request.query_string:  # textual.js acts on ?ping= and ?delay=: not ours
                raise web.HTTPSeeOther("./", headers={"Server": "therapy", "Connection": "close"})
            return response(self.page, "text/html")
        if request.path in self.static:
            body, kind = self.static[request.path]
            return response(body, kind)
        return plain(404, "Not found.")


def response(body: bytes, kind: str) -> web.Response:
    answer = web.Response(body=body, content_type=kind, headers=HEADERS)
    answer.force_close()  # a page's few files: no connection kept waiting for more
    return answer


def plain(status: int, sentence: str) -> web.Response:
    answer = web.Response(status=status, text=sentence, headers=HEADERS)
    answer.force_close()
    return answer
