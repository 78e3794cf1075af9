"""Publishing from the close screen: `w` asks for the wiki (the last one offered again), git
runs off the app's loop, a refusal stays in the form, and only the facilitator has the key."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from test_publish import PUBLISHER, count, files, git, git_setup  # noqa: F401 (a fixture)
from tui_support import app_for, demo_sessions, participant_app, settle
from wiki_support import TOKEN, USER, GitServer, Watcher

from therapy.model import Phase
from therapy.tui.widgets.prompt import TextPrompt

SIZE = (120, 36)
DEADLINE = 60  # seconds: a loaded machine runs git this fast too


async def wait_for(pilot, condition, what: str) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not condition():
        await pilot.pause(0.05)
        assert time.monotonic() - started < DEADLINE, what


def said(app, start: str) -> str:  # type: ignore[no-untyped-def]
    """The notification that starts so ("" if none)."""
    return next((n.message for n in app._notifications if n.message.startswith(start)), "")


async def test_w_publishes_the_plan_and_offers_that_wiki_next_time(
    data_dir: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "wiki.git"
    git("init", "--quiet", "--bare", str(bare))
    sessions, code = demo_sessions(data_dir, Phase.CLOSE)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), "no form came")
        assert app.screen.answer.value == ""  # type: ignore[attr-defined]
        await pilot.press(*str(tmp_path / "nowhere"), "enter")
        error = app.screen.query_one("#form-error")
        await wait_for(pilot, lambda: error.display and str(error.render()), "no refusal shown")
        assert "nowhere" in str(error.render())
        assert isinstance(app.screen, TextPrompt)  # the form stays, with what was typed
        await pilot.press("ctrl+u", *str(bare), "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, TextPrompt), "never published")
        assert count(bare) == 1
        assert f"Sales-x-Marketing-2026-11-27-{code}.md" in files(bare)
        await wait_for(pilot, lambda: said(app, "Published "), "the result was never said")
        assert PUBLISHER[0] in said(app, "Published ")

        await pilot.press("w")  # again: this wiki is offered
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), "no form came")
        assert app.screen.answer.value == str(bare)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, TextPrompt), "never published")
        await wait_for(pilot, lambda: said(app, "Nothing changed"), "the result was never said")
        assert count(bare) == 1  # nothing changed: no new commit
    # the next session of the pair is offered the same wiki
    later = sessions.create("Q4", ["Sales", "Marketing"], demo=sessions.session(code).demo).code
    assert sessions.wiki_for(later) == str(bare)


async def test_a_participant_has_no_publish_key(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CLOSE)
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "publish" not in {b.binding.action for b in app.active_bindings.values()}
        await pilot.press("w")
        await settle(pilot)
        assert not isinstance(app.screen, TextPrompt)


async def test_escape_while_publishing_waits_for_the_answer(data_dir: Path, tmp_path: Path) -> None:
    """A push under way cannot be called back: the form stays until git answers, so the
    result (or the refusal) is never lost and a second publish cannot start beside it."""
    bare = tmp_path / "wiki.git"
    git("init", "--quiet", "--bare", str(bare))
    started, release = tmp_path / "started", tmp_path / "release"
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        f"#!/bin/sh\ncat >/dev/null\ntouch {started}\n"
        f"i=0; while [ ! -e {release} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n"
    )
    hook.chmod(0o755)
    sessions, code = demo_sessions(data_dir, Phase.CLOSE)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), "no form came")
        await pilot.press(*str(bare), "enter")
        await wait_for(pilot, started.exists, "the push never started")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)
        assert "Still working on it" in str(app.screen.query_one("#form-error").render())
        release.touch()
        await wait_for(pilot, lambda: not isinstance(app.screen, TextPrompt), "never answered")
        await wait_for(pilot, lambda: said(app, "Published "), "the result was never said")
        assert count(bare) == 1


async def test_a_token_typed_in_the_form_stays_off_every_command_line(
    data_dir: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "wiki.git"
    git("init", "--quiet", "--bare", str(bare))
    server, watcher = GitServer(tmp_path), Watcher(TOKEN)
    server.watcher = watcher
    threading.Thread(target=server.serve_forever, daemon=True).start()
    wiki = f"http://127.0.0.1:{server.server_address[1]}/wiki.git"
    sessions, code = demo_sessions(data_dir, Phase.CLOSE)
    app = app_for(sessions, code)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("w")
            await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), "no form came")
            await pilot.press(*wiki.replace("://", f"://{USER}:{TOKEN}@"))
            watcher.start()  # once typed: Pilot waits for a quiet process after each key
            await pilot.press("enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, TextPrompt), "never published")
            await wait_for(pilot, lambda: said(app, "Published "), "the result was never said")
            await pilot.press("w")  # offered again without the token
            await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), "no form came")
            assert app.screen.answer.value == wiki  # type: ignore[attr-defined]
    finally:
        watcher.stop()
        server.shutdown()
        server.server_close()
    assert count(bare) == 1
    assert any("remote-http" in line for line in watcher.seen), watcher.seen
    assert watcher.leaks == set()
