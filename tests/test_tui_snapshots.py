"""What the screens look like (SVGs under tests/__snapshots__/, reviewed when they change)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_support import app_for, demo_sessions, fix_world, settle

from therapy.model import Phase

SIZE = (120, 36)


@pytest.fixture(autouse=True)
def fixed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fix_world(monkeypatch)


def test_home(snap_compare, data_dir: Path) -> None:
    sessions, _ = demo_sessions(data_dir, Phase.VENT, finish=False)
    app = app_for(sessions)

    async def loaded(pilot) -> None:  # type: ignore[no-untyped-def]
        from textual.widgets import DataTable

        await settle(pilot)
        for _ in range(200):  # the list is read in a worker: wait for both sessions
            if app.screen.query(DataTable) and app.screen.query_one(DataTable).row_count == 2:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=loaded)


@pytest.mark.parametrize("phase", list(Phase), ids=[p.value for p in Phase])
def test_phase(snap_compare, data_dir: Path, phase: Phase) -> None:
    sessions, code = demo_sessions(data_dir, phase)

    async def loaded(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)

    assert snap_compare(app_for(sessions, code), terminal_size=SIZE, run_before=loaded)


def test_vent_at_80x24(snap_compare, data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)

    async def loaded(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)

    assert snap_compare(app_for(sessions, code), terminal_size=(80, 24), run_before=loaded)


def test_add_complaint_form(snap_compare, data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)

    async def adding(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("right", "a")
        await pilot.press(*"They never call back")
        await pilot.pause(0.1)

    assert snap_compare(app_for(sessions, code), terminal_size=SIZE, run_before=adding)
