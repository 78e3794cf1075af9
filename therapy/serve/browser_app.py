"""What each connection to the browser door runs, in a process of its own: the participant's
app on the door's pipes (TEXTUAL_DRIVER: therapy.tui.driver:BrowserDriver), which asks the
session's code itself (there is no terminal to ask it on first), then the name and side.

    python -m therapy.serve.browser_app --data-dir DATA [--prompts PROMPTS] [--pair PAIR]
        [--join-seconds SECONDS]

Exit status: the app's (therapy.tui.screens.code.WRONG_CODES when the codes were wrong,
therapy.tui.app.NOT_JOINED when no session was joined within SECONDS)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from therapy.limits import SERVE_JOIN_SECONDS
from therapy.model import Session, TherapyError, pair_keys
from therapy.service import Sessions, normalise_code


def opens(sessions: Sessions, pair: str | None) -> Callable[[str], Session | None]:
    """The session behind a typed code if the door opens it (one pair's only, with --pair);
    else None, whatever the reason, so that nothing is learnt of a session it does not."""

    def session(typed: str) -> Session | None:
        try:
            found = sessions.session(normalise_code(typed))
        except TherapyError:
            return None
        if pair is not None and found.pair not in pair_keys(pair):
            return None
        return found

    return session


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="therapy-browser-app")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--prompts", type=Path)
    parser.add_argument("--pair")
    parser.add_argument("--join-seconds", type=float, default=SERVE_JOIN_SECONDS)
    given = parser.parse_args(argv)

    from therapy.store import Store
    from therapy.tui.app import TherapyApp

    sessions = Sessions(Store(given.data_dir), given.prompts)
    app = TherapyApp(
        sessions,
        asking=opens(sessions, given.pair),
        cursor_blink=False,  # a blink is output: the door would never find the page idle
        restricted=True,
        one_session=True,
        join_seconds=given.join_seconds,
    )
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
