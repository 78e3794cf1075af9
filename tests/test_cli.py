"""The `therapy` command, through click's CliRunner and through the installed script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from therapy.cli import cli


@pytest.fixture
def run(data_dir: Path):
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(cli, ["--data-dir", str(data_dir), *args])
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code != 0, result.output
            assert "Traceback" not in result.output
        return result

    return invoke


def new_session(run, *extra: str) -> str:
    return run("new", "Q3 lead handoff", *extra).stdout.strip()


def test_a_whole_session_from_the_shell(run, tmp_path: Path) -> None:
    code = new_session(run, "--votes", "2")
    assert len(code) == 6
    assert run("phase", code).stdout == "check-in\n"
    first = run(
        "add", code, "--side", "Sales", "--name", "Alex", "Their leads are not ready to buy"
    ).stdout.strip()
    assert first == "1"
    table = tmp_path / "c.csv"
    table.write_text(
        "side,text,author\nMarketing,Nobody comes to the campaign meetings,Dana\n"
        'sales,"Quota, quota, quota",Sam\n',
        encoding="utf-8",
    )
    assert "Imported 2 complaints" in run("import", code, str(table)).stdout
    assert run("phase", code, "next").stdout == "vent\n"
    assert run("phase", code, "diagnose").stdout == "diagnose\n"
    run("cause", code, "1", "misaligned-expectations")
    run("group", code, "3", "1")
    run("phase", code, "vote")
    assert run("vote", code, "1", "2", "--name", "Alex", "--side", "Sales").stdout == "0\n"
    run("phase", code, "next")
    run(
        "action",
        code,
        "Sign a lead agreement",
        "--owner",
        "Alex",
        "--due",
        "2026-12-31",
        "--metric",
        "follow-up in 24h",
        "--cause",
        "misaligned-expectations",
        "--complaint",
        "1",
    )
    run("phase", code, "next")
    run("win", code, "--side", "Marketing", "--appreciation", "Sam's notes landed")
    run("phase", code, "close")
    status = run("status", code).stdout
    assert "phase: close" in status and "complaints: Sales 2, Marketing 1" in status
    assert "coverage       0.50  1 of the top 2 voted items" in status
    data = json.loads(run("export", code, "--format", "json").stdout)
    assert [c["cause"] for c in data["complaints"]] == [
        "misaligned-expectations",
        None,
        "misaligned-expectations",
    ]
    assert data["complaints"][2]["group"] == 1
    assert [c["votes"] for c in data["complaints"]] == [1, 1, 0]
    out = tmp_path / "plan.md"
    run("export", code, "-o", str(out))
    assert out.read_text(encoding="utf-8").startswith("# Q3 lead handoff\n")
    listed = json.loads(run("list", "--json").stdout)
    assert [(s["code"], s["phase"], s["complaints"]) for s in listed] == [(code, "close", 3)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "{code}", "--side", "Legal", "x"], "There is no side 'Legal'"),
        (["add", "{code}", "--side", "Sales", "   "], "1 to 1,000 characters"),
        (["add", "NOPE42", "--side", "Sales", "x"], "There is no session NOPE42"),
        (["add", "../../etc", "--side", "Sales", "x"], "a session code is letters and digits"),
        (["phase", "{code}", "lunch"], "There is no phase 'lunch'"),
        (["phase", "{code}", "back"], "first phase"),
        (["new", "t", "--sides", "Sales"], "two or more sides"),
        (["export", "{code}", "--template", "/nonexistent/x.j2"], "no template file"),
        (["export", "{code}", "-o", "/nonexistent/dir/plan.md"], "Cannot write"),
        (["import", "{code}", "/nonexistent.csv"], "Cannot read"),
        (["action", "{code}", "x", "--owner", "A", "--due", "2026-12-01"], "only during remedy"),
        (["join", "{code}", "--side", "Legal", "--name", "A"], "There is no side 'Legal'"),
        (["join", "NOPE42"], "There is no session NOPE42"),
        (["watch", "NOPE42"], "There is no session NOPE42"),
        (["facilitate", "NOPE42"], "There is no session NOPE42"),
        (["ssh", "--name", "Alex"], "Say which session to join after the host"),
    ],
)
def test_errors_are_one_sentence(run, args: list[str], message: str) -> None:
    code = new_session(run)
    result = run(*[a.format(code=code) for a in args], ok=False)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_import_names_the_bad_line_and_keeps_nothing(run, tmp_path: Path) -> None:
    code = new_session(run)
    run("add", code, "--side", "Sales", "kept")
    table = tmp_path / "bad.csv"
    table.write_text("Sales,fine\nMarketing,fine too\nSales,\n", encoding="utf-8")
    result = run("import", code, str(table), ok=False)
    assert "Line 3: A complaint must be 1 to 1,000 characters" in result.stderr
    assert "Nothing was imported." in result.stderr
    table.write_text("Sales,fine\nSales,a,b,c\n", encoding="utf-8")
    assert "Line 2 of" in run("import", code, str(table), ok=False).stderr
    data = json.loads(run("export", code, "--format", "json").stdout)
    assert [c["text"] for c in data["complaints"]] == ["kept"]


def test_debug_shows_the_traceback(run, data_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "--debug", "phase", "NOPE42"])
    assert result.exit_code != 0
    assert result.exception is not None and "no session NOPE42" in str(result.exception)


def test_data_dir_from_the_environment(tmp_path: Path) -> None:
    runner = CliRunner(env={"THERAPY_DATA_DIR": str(tmp_path / "env")})
    code = runner.invoke(cli, ["new", "from env"]).stdout.strip()
    assert (tmp_path / "env" / "sessions" / code / "session.json").is_file()


def test_broken_prompts_name_the_file_and_key(run, tmp_path: Path) -> None:
    code = new_session(run)
    mine = tmp_path / "prompts"
    mine.mkdir()
    (mine / "icebreakers.toml").write_text("icebreakers = 'not a list'\n", encoding="utf-8")
    result = run("--prompts", str(mine), "export", code, ok=False)
    assert str(mine / "icebreakers.toml") in result.stderr
    assert "'icebreakers' must be a non-empty list of strings" in result.stderr
    (mine / "icebreakers.toml").write_text("icebreakers = [\n", encoding="utf-8")
    assert "is not valid TOML" in run("--prompts", str(mine), "export", code, ok=False).stderr
    (mine / "icebreakers.toml").write_text("icebreakers = ['Only ours']\n", encoding="utf-8")
    (mine / "questions.toml").write_text(
        "[[bank]]\nfrom = 'default'\nto = 'default'\nquestions = ['Our own question?']\n",
        encoding="utf-8",
    )
    plan = run("--prompts", str(mine), "export", code).stdout
    assert "- Our own question?" in plan
    assert "What's the story behind this campaign?" not in plan


def _installed(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("therapy")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "therapy.cli"]
    return subprocess.run(
        [*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_installed_command(tmp_path: Path) -> None:
    env = {**os.environ, "THERAPY_DATA_DIR": str(tmp_path / "data")}
    code = _installed("new", "Installed", cwd=tmp_path, env=env).stdout.strip()
    added = _installed("add", code, "--side", "Sales", "from the script", cwd=tmp_path, env=env)
    assert added.returncode == 0 and added.stdout == "1\n"
    bad = _installed("add", code, "--side", "Nope", "x", cwd=tmp_path, env=env)
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error: There is no side 'Nope'")
    assert "Traceback" not in bad.stderr
    plan = _installed("export", code, cwd=tmp_path, env=env)
    assert plan.returncode == 0 and "from the script" in plan.stdout


def test_add_and_export_do_not_import_textual(tmp_path: Path, data_dir: Path) -> None:
    probe = f"""
import sys
from therapy.cli import cli
data = {str(data_dir)!r}
for args in (["new", "t"], ["add", None, "--side", "Sales", "x"], ["export", None]):
    if args[0] == "new":
        from click.testing import CliRunner
        code = CliRunner().invoke(cli, ["--data-dir", data, *args]).stdout.strip()
        continue
    args[1] = code
    try:
        cli(["--data-dir", data, *args], standalone_mode=False)
    except SystemExit:
        pass
    if args[0] == "add":
        assert "jinja2" not in sys.modules, "add imported jinja2"
    assert not [m for m in sys.modules if m.split(".")[0] == "textual"], args[0]
print("clean")
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip().endswith("clean"), result.stderr


def test_core_imports_without_textual() -> None:
    probe = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def guard(name, *a, **k):\n"
        "    if name.split('.')[0] == 'textual': raise ImportError('textual is off')\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = guard\n"
        "import therapy.model, therapy.prompts, therapy.store, therapy.service\n"
        "import therapy.diagnose, therapy.export, therapy.relationship, therapy.cli\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("typed", ["", "bash -i", "K7QX2M; sh", "../../etc/passwd", "A B"])
def test_ssh_entry_takes_only_a_code(data_dir: Path, typed: str) -> None:
    runner = CliRunner(env={"SSH_ORIGINAL_COMMAND": typed})
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "ssh", "--name", "Alex"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Say which session to join after the host")


def test_ssh_entry_with_an_unknown_code(data_dir: Path) -> None:
    runner = CliRunner(env={"SSH_ORIGINAL_COMMAND": "nope42"})
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "ssh", "--name", "Alex"])
    assert result.exit_code == 1
    assert "There is no session NOPE42" in result.stderr


@pytest.mark.parametrize("command", [["demo"], ["facilitate", "{code}"], ["join", "{code}"]])
def test_the_app_needs_a_terminal(run, command: list[str]) -> None:
    code = new_session(run)
    result = run(*[part.format(code=code) for part in command], ok=False)
    assert "The terminal app needs a terminal" in result.stderr
    assert [s["code"] for s in json.loads(run("list", "--json").stdout)] == [code]
