from __future__ import annotations

from pathlib import Path

import pytest

from therapy.service import Sessions
from therapy.store import Store


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def sessions(data_dir: Path) -> Sessions:
    return Sessions(Store(data_dir))


@pytest.fixture
def code(sessions: Sessions) -> str:
    return sessions.create("Q3 lead handoff", ["Sales", "Marketing"]).code
