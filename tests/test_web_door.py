"""The browser door (`therapy serve --web`): the participant's app in a web page.

A participant in Debian's Chromium, driven by Playwright (no browser is downloaded), joins
and adds a complaint; the page never shows a path; a tab over the address's cap is refused
in a sentence; closing the page ends the app. Then, with aiohttp's client, everything else
the protocol allows is tried against the door, with a stand-in app (a few lines of Python
that speak the web driver's packets and echo what reaches them), so that what the app is
given can be checked exactly. Never skipped in CI (CI=true): .ci/run installs chromium.

The door runs in the test's own event loop through open_web, as `therapy serve` runs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ssh_support import in_ci
from tui_support import app_for

from therapy.serve import web
from therapy.serve.web import Caps, Visit, WebDoor, open_web
from therapy.service import Sessions
from therapy.store import Store
from therapy.tui.app import TherapyApp
from therapy.tui.screens.code import CodeScreen
from therapy.tui.widgets.cards import CardList

CHROMIUM = "/usr/bin/chromium"
SECONDS = 30  # for anything to happen: an app starting on a loaded 2-core machine
TITLE = "Q3 lead handoff"
CARD = "Leads arrive without context"
CSI = re.compile(r"\x1b\[[0-9;?<>=!]*[ -/]*[@-~]")


@dataclass(frozen=True)
class Served:
    data_dir: Path
    prompts: Path | None = None
    pair: str | None = None


async def until(check: Callable[[], Any], what: Callable[[], str], seconds: float = SECONDS) -> Any:
    """Polls CHECK until it is truthy (its value is returned), or fails with WHAT."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not (found := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"waited {seconds:g} s in vain: {what()}")
        await asyncio.sleep(0.05)
    return found


def gone(pid: int) -> bool:
    """No such process, or only its zombie (its parent has not reaped it yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


@asynccontextmanager
async def door_on(
    data_dir: Path, caps: Caps, said: list[str] | None = None
) -> AsyncIterator[WebDoor]:
    door = await open_web(
        Served(data_dir), "127.0.0.1", 0, (said if said is not None else []).append, caps=caps
    )
    try:
        yield door
    finally:
        pids = [visit.process.pid for visit in door.visits if visit.process is not None]
        await asyncio.wait_for(door.close(), SECONDS)
        assert all(gone(pid) for pid in pids), "door.close() left an app running"


def need_browser() -> None:
    problem = None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        problem = "the browser door test needs playwright (pip install -e '.[test]')"
    if problem is None and not os.access(CHROMIUM, os.X_OK):
        problem = f"the browser door test needs Debian's {CHROMIUM} (apt-get install chromium)"
    if problem is None:
        return
    if in_ci():
        pytest.fail(f"{problem}; .ci/run installs it, and CI must not skip this test")
    pytest.skip(problem)


# -- a participant in Chromium ----------------------------------------------------------------


class Screen:
    """What the app drew in one page, as text: the websocket's frames without the escapes."""

    def __init__(self) -> None:
        self.text = ""

    def frame(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            self.text += CSI.sub("", payload.decode(errors="replace"))

    async def shows(self, text: str) -> None:
        await until(
            lambda: text in self.text, lambda: f"{text!r} never drawn: {self.text[-2000:]!r}"
        )


async def test_a_participant_joins_from_the_browser_and_adds_a_complaint(tmp_path: Path) -> None:
    need_browser()
    from playwright.async_api import async_playwright

    data_dir = tmp_path / "data"
    sessions = Sessions(Store(data_dir))
    code = sessions.create(TITLE, ["Sales", "Marketing"]).code
    async with door_on(data_dir, Caps(per_address=1)) as door, async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium"),  # a profile of its own: we run as root
            executable_path=CHROMIUM,
            headless=True,
            viewport={"width": 1100, "height": 700},
            args=[
                *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"),
                *("--no-first-run", "--disable-background-networking"),
                *("--disable-component-update", "--disable-sync"),
            ],
        )
        try:
            page = await browser.new_page()
            screen = Screen()
            page.on("websocket", lambda socket: socket.on("framereceived", screen.frame))
            await page.goto(door.url)
            splash = await page.content()
            assert await page.title() == "therapy"
            assert str(data_dir) not in splash and str(tmp_path) not in splash
            assert "door" not in splash.lower() and sys.executable not in splash
            await page.screenshot(path=tmp_path / "web-splash.png")

            await screen.shows("Session code")
            await page.keyboard.type(code.lower())
            await page.keyboard.press("Enter")
            await screen.shows("Your side")
            # the first side (Sales) is highlighted; tab moves to the name at once, where
            # enter on a side moves there only once its message is handled: a name typed
            # at a machine's speed loses its first letters (as a paste would)
            await page.keyboard.press("Tab")
            await page.keyboard.type("Alex")
            await page.keyboard.press("Enter")
            alex = await until(
                lambda: next((p for p in sessions.board(code).participants if p.name), None),
                lambda: "nobody joined",
            )
            assert (alex.name, alex.side, alex.keyed) == ("Alex", "Sales", False)
            await screen.shows("Add complaint")
            await page.keyboard.press("a")
            await screen.shows("A complaint from Sales")
            await page.keyboard.type(CARD)
            await page.keyboard.press("Enter")
            complaints = await until(
                lambda: sessions.board(code).complaints, lambda: "no complaint arrived"
            )
            assert [(c.text, c.side, c.participant) for c in complaints] == [
                (CARD, "Sales", alex.id)
            ]
            # the facilitator's app shows it (an app of its own, on the same store)
            facilitator = app_for(Sessions(Store(data_dir)), code)
            async with facilitator.run_test(size=(120, 36)):
                await until(lambda: CARD in cards_shown(facilitator), lambda: "not shown")
            await page.screenshot(path=tmp_path / "web-joined.png")
            assert str(data_dir) not in await page.content()

            (visit,) = door.visits
            assert visit.process is not None
            pid = visit.process.pid

            second = await browser.new_page()
            await second.goto(door.url)
            await second.wait_for_selector("body.-closed", state="attached")
            assert (
                await second.text_content("#farewell")
            ) == "Your address holds 1 connection already; close one first."
            assert len(door.visits) == 1, "the refused tab started an app"

            await page.close()
            await until(lambda: gone(pid), lambda: f"the app {pid} outlived its page")
            await until(lambda: not sessions.present(code), lambda: "Alex is still present")
            await until(lambda: not door.visits, lambda: "its page is still counted")
        finally:
            await browser.close()


def cards_shown(app: TherapyApp) -> str:
    return "\n".join(
        str(cards.get_option_at_index(index).prompt)
        for cards in app.screen.query(CardList)
        for index in range(cards.option_count)
    )


# -- the protocol, with a stand-in app ---------------------------------------------------------

STAND_IN = r"""
import json, os, signal, subprocess, sys, time
mode = sys.argv[1]
out = sys.stdout.buffer
def packet(kind, payload):
    out.write(kind + len(payload).to_bytes(4, "big") + payload)
    out.flush()
def say(**what):
    packet(b"D", json.dumps(what).encode())
out.write(b"__GANGLION__\n")
say(env={k: os.environ.get(k) for k in ("COLUMNS", "ROWS", "TEXTUAL_DRIVER", "THERAPY_DATA_DIR")},
    environ=sorted(os.environ))
# what an app could ask of the page: none of it may reach the browser
packet(b"M", json.dumps({"type": "open_url", "url": "https://example.com/",
    "new_tab": False}).encode())
packet(b"M", json.dumps({"type": "deliver_file_start", "key": "k", "path": "/etc/passwd",
    "open_method": "download", "encoding": "", "mime_type": "text/plain"}).encode())
packet(b"P", b"\x00\x01")
if mode == "stubborn":  # deaf to the quit, to the end of its input and to SIGTERM/SIGHUP
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    say(child=child.pid)
say(ready=True)
while True:
    head = sys.stdin.buffer.read(5)
    if len(head) < 5:
        while mode == "stubborn":
            time.sleep(1)
        break
    body = sys.stdin.buffer.read(int.from_bytes(head[1:], "big"))
    say(got=head[:1].decode(), body=body.decode("utf-8", "replace"))
    with open(sys.argv[2], "ab") as log:  # what reached the app, also once the page is gone
        log.write(body + b"\n")
    if mode == "quiet":
        continue
    if head[:1] == b"M" and json.loads(body)["type"] == "quit" and mode != "stubborn":
        packet(b"M", b'{"type": "exit"}')
        break
"""


class Page:
    """One websocket to the door, as textual.js holds it: what the stand-in said, in order."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.said: list[dict[str, Any]] = []
        self.texts: list[str] = []  # text messages: only pongs may come

    async def next(self, key: str) -> dict[str, Any]:
        """The next thing said that has KEY."""
        while True:
            message = await asyncio.wait_for(self.socket.receive(), SECONDS)
            if message.type is aiohttp.WSMsgType.BINARY:
                self.said.append(json.loads(message.data))
                if key in self.said[-1]:
                    return self.said[-1]
            elif message.type is aiohttp.WSMsgType.TEXT:
                self.texts.append(message.data)
            else:
                raise AssertionError(f"closed ({message}) before {key!r}: {self.said}")

    async def closed(self) -> tuple[int | None, str]:
        """The code and the sentence the door closed the socket with."""
        while True:
            message = await asyncio.wait_for(self.socket.receive(), SECONDS)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return self.socket.close_code, str(message.extra or "")
            if message.type is aiohttp.WSMsgType.BINARY:
                self.said.append(json.loads(message.data))


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)

    def use(mode: str) -> None:
        argv = [sys.executable, str(script), mode, str(tmp_path / "given.log")]
        monkeypatch.setattr(Visit, "argv", lambda self: argv)

    use("echo")
    return use


@asynccontextmanager
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SECONDS)) as session:
        yield session


async def visit(session: aiohttp.ClientSession, door: WebDoor, query: str = "") -> Page:
    socket = await session.ws_connect(f"{door.url}ws{query}", max_msg_size=0)
    page = Page(socket)
    await page.next("ready")
    return page


def app_of(door: WebDoor) -> asyncio.subprocess.Process:
    (only,) = door.visits
    assert only.process is not None
    return only.process


async def test_the_door_serves_the_page_its_files_and_the_socket_and_nothing_else(
    tmp_path: Path,
) -> None:
    async with door_on(tmp_path / "data", Caps()) as door, client() as http:
        async with http.get(door.url) as response:
            page = await response.text()
            assert response.status == 200
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
            assert response.headers["Server"] == "therapy"
        assert "<title>therapy</title>" in page
        assert str(tmp_path) not in page and "door" not in page.lower()
        assert "googleapis" not in page  # its fonts are served here, not fetched elsewhere
        for path in ("static/js/textual.js", "static/css/xterm.css", "static/page.js"):
            async with http.get(door.url + path) as response:
                assert response.status == 200, path
                assert str(tmp_path) not in await response.text()
        for path in (
            "/static/",  # textual-serve lists its static folder
            "/static/js/",
            "/static/images/background.png",
            "/download/anything",  # textual-serve's downloads
            "/static/../therapy/serve/web.py",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/ws/",
            "/index.html",
        ):
            async with http.get(door.url.rstrip("/") + path, allow_redirects=False) as response:
                assert response.status == 404, path
                assert await response.text() == "Not found."
        async with http.post(door.url, data=b"x" * 1000) as response:
            assert response.status == 405
        # textual.js fetches ?ping= and waits on ?delay=: a link cannot make it do either
        async with http.get(door.url + "?ping=http://example.com/", allow_redirects=False) as r:
            assert (r.status, r.headers["Location"]) == (303, "./")
        async with http.get(door.url + "ws") as response:
            assert response.status == 400  # a plain request where the websocket is
        for origin in ("http://evil.example", "null", f"http://127.0.0.1.evil.example:{door.port}"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(door.url + "ws", origin=origin)
            assert refused.value.status == 403  # another site's page, in a visitor's browser
        assert not door.visits


async def test_the_app_is_given_the_pages_keys_and_sizes_and_nothing_more(
    tmp_path: Path, stand_in: Callable[[str], None]
) -> None:
    async with door_on(tmp_path / "data", Caps()) as door, client() as http:
        page = await visit(http, door, "?width=999999999&height=-7")
        started = page.said[0]
        assert started["env"] == {
            "COLUMNS": "400",  # clamped to SERVE_WEB_COLUMNS
            "ROWS": "24",  # not a number: the default
            "TEXTUAL_DRIVER": web.BROWSER_DRIVER,
            "THERAPY_DATA_DIR": str(tmp_path / "data"),
        }
        assert set(started["environ"]) <= {
            *("PATH", "HOME", "LANG", "TERM", "TEXTUAL_DRIVER", "TEXTUAL_COLOR_SYSTEM"),
            *("TEXTUAL_FPS", "COLUMNS", "ROWS", "THERAPY_DATA_DIR", "THERAPY_NOW", "TMPDIR"),
        }, "the server's environment leaked into the app"
        socket = page.socket
        await socket.send_json(["stdin", "K7\ud800é"])  # a lone surrogate: not UTF-8
        assert (await page.next("got"))["body"] == "K7?é"
        odd = [((10**12, -3), (400, 1)), ((True, 2.5), (80, 24)), ((120, "40"), (120, 40))]
        odd += [((-1, 10**9), (1, 150)), (("x", None), (80, 24))]
        for (width, height), drawn in odd:
            await socket.send_json(["resize", {"width": width, "height": height}])
            got = await page.next("got")
            assert json.loads(got["body"]) == {
                "type": "resize",
                "width": drawn[0],
                "height": drawn[1],
            }
        for _ in range(200):  # a storm of resizes
            await socket.send_json(["resize", {"width": 132, "height": 43}])
            await socket.send_json(["resize", {"width": 100, "height": 30}])
        while json.loads((await page.next("got"))["body"]) != {
            "type": "resize",
            "width": 100,
            "height": 30,
        }:
            pass
        storm = [s for s in page.said if "resize" in s.get("body", "")][len(odd) :]
        assert len(storm) < 40, f"400 resizes reached the app as {len(storm)}"
        await socket.send_json(["focus"])
        await socket.send_json(["ping", "1700000000000"])
        assert json.loads((await page.next("got"))["body"]) == {"type": "focus"}
        await until(lambda: page.texts, lambda: "no pong")
        assert page.texts == ['["pong", "1700000000000"]'], "the app reached the page"
        await socket.close()
        process = app_of(door) if door.visits else None
        if process is not None:
            await until(lambda: process.returncode is not None, lambda: "the app outlived it")


@pytest.mark.parametrize(
    ("message", "sentence"),
    [
        ("binary", "This page's messages only; reload the page."),
        ('["open_url", {"url": "https://example.com/"}]', "This page's messages only;"),
        ('["stdin"]', "This page's messages only;"),
        ('["resize", [80, 24]]', "This page's messages only;"),
        ("[]", "This page's messages only;"),
        ("{not json", "This page's messages only;"),
        ("too large", ""),  # closed with 1009, which the page itself puts in words
    ],
)
async def test_a_message_the_door_does_not_take_closes_the_page_and_ends_its_app(
    tmp_path: Path, stand_in: Callable[[str], None], message: str, sentence: str
) -> None:
    caps = Caps(message_bytes=4096)
    async with door_on(tmp_path / "data", caps) as door, client() as http:
        page = await visit(http, door)
        process = app_of(door)
        if message == "binary":
            await page.socket.send_bytes(b"\x1b[A")
        elif message == "too large":
            await page.socket.send_json(["stdin", "x" * caps.message_bytes])
        else:
            await page.socket.send_str(message)
        code, reason = await page.closed()
        assert reason.startswith(sentence)
        assert code == (1009 if message == "too large" else 1000)
        given = [s["body"] for s in page.said if "got" in s]
        assert given in ([], ['{"type": "quit"}']), "the app was given it"
        await until(lambda: process.returncode is not None, lambda: "its app still runs")
        await until(lambda: not door.visits, lambda: "its visit is still counted")


async def test_a_flood_of_keys_waits_in_the_browser_and_its_page_can_still_go(
    tmp_path: Path, stand_in: Callable[[str], None]
) -> None:
    """Textual queues every key it is sent: 60 KB messages for 20 s grew an app to 600 MB."""
    caps = Caps(input_bytes=64)  # a burst of 1,024 bytes, then 64 a second
    async with door_on(tmp_path / "data", caps) as door, client() as http:
        page = await visit(http, door)
        process = app_of(door)
        await page.socket.send_json(["stdin", "x" * 900])
        assert (await page.next("got"))["body"] == "x" * 900
        await page.socket.send_json(["stdin", "y" * 20_000])  # five minutes' worth
        await page.socket.send_json(["focus"])
        (waiting,) = door.visits
        await until(lambda: waiting.allowance < 0, lambda: "the flood went straight through")
        await page.socket.close()
        await until(lambda: process.returncode is not None, lambda: "its app outlived it")
    given = (tmp_path / "given.log").read_bytes().splitlines()
    assert given[0] == b"x" * 900
    assert b"y" * 20_000 not in given and b'{"type": "focus"}' not in given


async def test_an_app_deaf_to_the_quit_is_killed_with_all_it_started(
    tmp_path: Path, stand_in: Callable[[str], None]
) -> None:
    stand_in("stubborn")
    async with door_on(tmp_path / "data", Caps(hangup_seconds=1)) as door, client() as http:
        socket = await http.ws_connect(f"{door.url}ws")
        page = Page(socket)
        child = (await page.next("child"))["child"]
        await page.next("ready")
        pid = app_of(door).pid
        await socket.close()  # the browser went
        await until(lambda: gone(pid) and gone(child), lambda: "the app or its child outlived it")


async def test_a_page_with_nothing_happening_is_ended(
    tmp_path: Path, stand_in: Callable[[str], None]
) -> None:
    stand_in("quiet")
    async with door_on(tmp_path / "data", Caps(idle_seconds=1)) as door, client() as http:
        page = await visit(http, door)
        process = app_of(door)
        assert await page.closed() == (
            1000,
            "Nothing happened for 1 second; reload the page to join again.",
        )
        await until(lambda: process.returncode is not None, lambda: "its app still runs")


async def test_sockets_are_capped_in_all_and_by_address(
    tmp_path: Path, stand_in: Callable[[str], None]
) -> None:
    caps = Caps(connections=2, per_address=1)
    async with door_on(tmp_path / "data", caps) as door, client() as http:
        first = await visit(http, door)
        over = Page(await http.ws_connect(f"{door.url}ws"))
        assert await over.closed() == (
            1013,
            "Your address holds 1 connection already; close one first.",
        )
        assert len(door.visits) == 1
        # from another address: the whole of 127.0.0.0/8 is this host's
        other_address = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=other_address) as other:
            second = await visit(other, door)
            full = Page(await other.ws_connect(f"{door.url}ws"))
            assert await full.closed() == (
                1013,
                "therapy serve holds 2 connections already; try later.",
            )
            assert len(door.visits) == 2
            await second.socket.close()
        await first.socket.close()
        await until(lambda: not door.visits, lambda: "visits left")


async def test_tcp_connections_are_capped_by_address_and_must_ask_in_time(
    tmp_path: Path,
) -> None:
    async with door_on(tmp_path / "data", Caps(tcp_per_address=2)) as door:
        held = [await asyncio.open_connection("127.0.0.1", door.port) for _ in range(3)]
        assert await asyncio.wait_for(held[2][0].read(), SECONDS) == b""
        for reader, writer in held[:2]:
            writer.write(b"GET /static/page.js HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await asyncio.wait_for(reader.readline(), SECONDS)).startswith(b"HTTP/1.1 200")
        for _reader, writer in held:
            writer.close()
    async with door_on(tmp_path / "data", Caps(request_seconds=1)) as door:
        reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and the rest of it never
        assert await asyncio.wait_for(reader.read(), SECONDS) == b""
        writer.close()


async def test_closing_the_door_ends_every_app_and_tells_every_page(
    tmp_path: Path, stand_in: Callable[[str], None]
) -> None:
    said: list[str] = []
    async with door_on(tmp_path / "data", Caps(), said) as door, client() as http:
        pages = [await visit(http, door) for _ in range(2)]
        processes = [visit.process for visit in door.visits]
        told = [asyncio.create_task(page.closed()) for page in pages]  # as browsers listen
        await asyncio.wait_for(door.close(), SECONDS)
        assert await asyncio.gather(*told) == [(1000, web.STOPPED)] * 2
        assert all(p is not None and p.returncode is not None for p in processes)
    assert said == [f"therapy serve: browsers join at {door.url} (participants only)"]


def test_web_takes_host_and_port_or_a_port_on_loopback() -> None:
    assert web.web_address("8080") == ("127.0.0.1", 8080)
    assert web.web_address("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert web.web_address("[::1]:8080") == ("::1", 8080)
    for wrong in ("", "host", ":8080", "host:0", "host:65536", "host:80x"):
        with pytest.raises(Exception, match="--web takes HOST:PORT"):
            web.web_address(wrong)


# -- the app's side ------------------------------------------------------------------------------


async def test_the_code_is_asked_in_the_app_three_times_each_wrong_one_slower(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app as the browser door's app process starts it: no code, `asking`."""
    from therapy.serve.browser_app import opens
    from therapy.tui.screens import code as code_screen

    assert code_screen.WRONG_CODES == web.WRONG_CODES
    sessions = Sessions(Store(tmp_path / "data"))
    code = sessions.create(TITLE, ["Sales", "Marketing"]).code
    paused: list[float] = []

    async def slow_down(screen: CodeScreen, seconds: float) -> None:
        paused.append(seconds)

    monkeypatch.setattr(CodeScreen, "slow_down", slow_down)

    async def answer(pilot: Any, typed: str) -> None:
        app = pilot.app
        await pilot.press(*typed, "enter")
        await until(
            lambda: (
                app._exit
                or not isinstance(app.screen, CodeScreen)
                or not app.screen.query_one("#code").disabled
            ),
            lambda: "the code is still being checked",
        )
        await pilot.pause()

    app = TherapyApp(sessions, asking=opens(sessions, None), cursor_blink=False, restricted=True)
    async with app.run_test() as pilot:
        await answer(pilot, "nope")
        problem = str(app.screen.query_one("#problem").render())
        assert "There is no session NOPE that you can join" in problem
        await answer(pilot, "[@click=app.quit]")  # shown as typed, and it does nothing
        assert "[@CLICK=APP.QUIT]" in str(app.screen.query_one("#problem").render())
        await answer(pilot, code.lower())
        assert paused == [1, 2]
        assert type(app.screen).__name__ == "JoinScreen"
        assert app.viewer.is_facilitator and app.live is None  # nothing opened before joining
    assert not app.return_code

    app = TherapyApp(sessions, asking=opens(sessions, "Other x Pair"), cursor_blink=False)
    paused.clear()
    async with app.run_test() as pilot:
        for _ in range(3):  # the right code, but of another pair than the door serves
            await answer(pilot, code)
    assert paused == [1, 2, 4]
    assert app.return_code == web.WRONG_CODES


def test_the_app_on_the_doors_pipes_ends_when_they_close(tmp_path: Path) -> None:
    """No door, no browser: the app process alone, as the door starts it, whose stdin
    ends. Textual's own web driver would read on and leave the app running."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "TEXTUAL_DRIVER": web.BROWSER_DRIVER,
        "COLUMNS": "80",
        "ROWS": "24",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "therapy.serve.browser_app", "--data-dir", str(tmp_path / "data")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        assert process.stdout.readline() == b"__GANGLION__\n"
        process.stdin.close()
        assert process.wait(SECONDS) == 0
    finally:
        with suppress(ProcessLookupError):
            process.kill()


def test_the_terminal_check_knows_the_doors_pipes_and_still_refuses_bare_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from therapy.cli.app import has_terminal

    read, write = os.pipe()
    try:
        with open(read, "rb", closefd=False) as stdin, open(write, "wb", closefd=False) as out:
            monkeypatch.setattr(sys, "stdin", stdin)
            monkeypatch.setattr(sys, "stdout", out)
            monkeypatch.setattr(sys, "stderr", out)
            monkeypatch.delenv("TEXTUAL_DRIVER", raising=False)
            assert not has_terminal()  # ssh without -t
            monkeypatch.setenv("TEXTUAL_DRIVER", "textual.drivers.web_driver:WebDriver")
            assert not has_terminal()  # a driver that would not end the app with its pipes
            monkeypatch.setenv("TEXTUAL_DRIVER", web.BROWSER_DRIVER)
            assert has_terminal()
    finally:
        os.close(read)
        os.close(write)


def test_a_websocket_is_taken_for_the_doors_own_names_and_origin_only() -> None:
    """DNS rebinding points a site's name at the door's address: Host and Origin then agree,
    and only the names the door is reached by tell it apart. The Origin's scheme, host and
    port are compared with the Host's (a Host without a port has the scheme's)."""
    from aiohttp.test_utils import make_mocked_request

    from therapy.serve.web_gate import Names, same_origin, strange_host

    def ours(names: Names, host: str, origin: str | None = None) -> bool:
        headers = {"Host": host, **({"Origin": origin} if origin else {})}
        request = make_mocked_request("GET", "/ws", headers=headers)
        return not strange_host(request, names) and same_origin(request)

    loopback = Names("127.0.0.1", ["127.0.0.1"])
    for host in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST.:8080"):
        assert ours(loopback, host, f"http://{host}"), host
    assert not ours(loopback, "rebound.example:8080", "http://rebound.example:8080")
    assert not ours(loopback, "127.0.0.1:8080", "http://127.0.0.1:9090")  # another port
    assert not ours(loopback, "127.0.0.1", "http://127.0.0.1:443")
    assert not ours(loopback, "127.0.0.1:8080", "null")
    assert ours(loopback, "127.0.0.1", "https://127.0.0.1")  # through a TLS proxy

    everywhere = Names("0.0.0.0", ["retro.example.com"])
    assert ours(everywhere, "retro.example.com:8080")
    assert ours(everywhere, "192.0.2.7:8080")  # any of its addresses: an address is not rebound
    assert not ours(everywhere, "rebound.example:8080")
    assert not ours(Names("192.0.2.7", []), "localhost:8080")


def test_new_connections_from_an_address_come_at_a_rate_after_a_burst() -> None:
    """Each connection brings three more codes to try: after the burst (a room behind one
    NAT), one new connection every `seconds`, counted by the client (an IPv6 /64)."""
    from therapy.serve.addresses import Arrivals, client

    assert client("::ffff:192.0.2.7") == "192.0.2.7"
    assert client("2001:db8:1:2:aaaa::1") == client("2001:db8:1:2::9") == "2001:db8:1:2::/64"
    now = [0.0]
    arrivals = Arrivals(burst=2, seconds=3, clock=lambda: now[0])
    assert arrivals.arrive("2001:db8:1:2::1") is None
    assert arrivals.arrive("2001:db8:1:2::2") is None
    assert arrivals.arrive("2001:db8:1:2::3") == (
        "Too many new connections from your address; try again in 3 seconds."
    )
    assert arrivals.arrive("2001:db8:1:3::1") is None  # another client
    now[0] = 3.0
    assert arrivals.arrive("2001:db8:1:2::3") is None
    assert arrivals.arrive("2001:db8:1:2::3") is not None


async def test_an_app_that_joins_no_session_in_time_ends(tmp_path: Path) -> None:
    """The browser door's app asks the code, then the name and the side; one that is given
    none within its joining time ends (the SSH door's, asking the name and side, too)."""
    from therapy.tui.app import NOT_JOINED

    sessions = Sessions(Store(tmp_path / "data"))
    session = sessions.create(TITLE, ["Sales", "Marketing"])
    app = TherapyApp(
        sessions, session.code, joining=(session, None, None), cursor_blink=False, join_seconds=1
    )
    async with app.run_test() as pilot:
        await until(lambda: app._exit, lambda: "the app is still asking")
        await pilot.pause()
    assert app.return_code == NOT_JOINED == web.NOT_JOINED
    assert app.farewell == "No session was joined within 1 second; connect again to join."
