"""Prompts from prompts/*.toml: causes, icebreakers, starter complaints, questions, celebrate,
and the labelled corpus of complaints the suggester learns from (corpus.toml, read only when
a suggestion is asked for).

A user folder (--prompts DIR or THERAPY_PROMPTS) overrides the shipped files one file at a
time: a file present there replaces the shipped file of the same name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from therapy.model import Cause, Labelled, TherapyError

FILES = ("causes", "icebreakers", "starters", "questions", "celebrate")


def shipped_folder(name: str) -> Path:
    """prompts/ or templates/: inside the installed package, or at the top of a checkout."""
    package = Path(__file__).resolve().parent
    for folder in (package / name, package.parent / name):
        if folder.is_dir():
            return folder
    raise TherapyError(f"The {name} folder is missing from this installation; reinstall therapy.")


class PromptError(TherapyError):
    pass


@dataclass(frozen=True)
class QuestionBank:
    asking: str
    asked: str
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Prompts:
    causes: tuple[Cause, ...]
    icebreakers: tuple[str, ...]
    starters: dict[str, tuple[str, ...]]
    banks: tuple[QuestionBank, ...]
    celebrate: tuple[str, ...]

    @property
    def cause_keys(self) -> tuple[str, ...]:
        return tuple(cause.key for cause in self.causes)

    def find_cause(self, key: str | None) -> Cause | None:
        return next((cause for cause in self.causes if cause.key == key), None)

    def cause_name(self, key: str | None) -> str:
        """The cause's name; a key no longer in the prompts folder shows as itself."""
        cause = self.find_cause(key)
        return cause.name if cause else (key or "Unsorted")

    def starters_for(self, side: str) -> tuple[str, ...]:
        for name, complaints in self.starters.items():
            if name.casefold() == side.casefold():
                return complaints
        return self.starters.get("default", ())

    def questions_for(self, asking: str, asked: str) -> tuple[str, ...]:
        """The questions ASKING puts to ASKED: their own bank, else the generic one."""
        fallback: tuple[str, ...] = ()
        for bank in self.banks:
            if bank.asking.casefold() == asking.casefold() and (
                bank.asked.casefold() == asked.casefold()
            ):
                return bank.questions
            if bank.asking == "default":
                fallback = bank.questions
        return fallback


class _Reader:
    """Reads one TOML file and checks its keys, naming the file and key on any fault."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise PromptError(f"Cannot read the prompts file {path} ({error}).") from None
        except tomllib.TOMLDecodeError as error:
            raise PromptError(f"The prompts file {path} is not valid TOML ({error}).") from None

    def fail(self, key: str, wanted: str) -> PromptError:
        return PromptError(f"The prompts file {self.path}: key '{key}' must be {wanted}.")

    def text(self, table: dict[str, Any], key: str, where: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}{key}", "a non-empty string")
        return value.strip()

    def texts(self, table: dict[str, Any], key: str, where: str = "") -> tuple[str, ...]:
        value = table.get(key)
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(item, str) and item.strip() for item in value)
        ):
            raise self.fail(f"{where}{key}", "a non-empty list of strings")
        return tuple(item.strip() for item in value)

    def tables(self, key: str) -> list[dict[str, Any]]:
        value = self.doc.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(t, dict) for t in value):
            raise self.fail(key, f"one or more [[{key}]] tables")
        return value


def _causes(reader: _Reader) -> tuple[Cause, ...]:
    causes = []
    for number, table in enumerate(reader.tables("cause"), start=1):
        where = f"cause[{number}]."
        causes.append(
            Cause(
                key=reader.text(table, "key", where),
                name=reader.text(table, "name", where),
                description=reader.text(table, "description", where),
                remedy=reader.text(table, "remedy", where),
                questions=reader.texts(table, "questions", where),
                examples=reader.texts(table, "examples", where),
            )
        )
    keys = [cause.key for cause in causes]
    if len(set(keys)) != len(keys):
        raise reader.fail("cause[].key", "different in every cause")
    return tuple(causes)


def _starters(reader: _Reader) -> dict[str, tuple[str, ...]]:
    sides = reader.doc.get("sides")
    if not isinstance(sides, dict) or not sides:
        raise reader.fail("sides", "a table of [sides.NAME] tables")
    starters = {}
    for name, table in sides.items():
        if not isinstance(table, dict):
            raise reader.fail(f"sides.{name}", "a table with a 'complaints' list")
        starters[name] = reader.texts(table, "complaints", f"sides.{name}.")
    return starters


def _banks(reader: _Reader) -> tuple[QuestionBank, ...]:
    banks = []
    for number, table in enumerate(reader.tables("bank"), start=1):
        where = f"bank[{number}]."
        banks.append(
            QuestionBank(
                asking=reader.text(table, "from", where),
                asked=reader.text(table, "to", where),
                questions=reader.texts(table, "questions", where),
            )
        )
    return tuple(banks)


def _path(name: str, override: Path | None) -> Path:
    if override is not None and (override / f"{name}.toml").is_file():
        return override / f"{name}.toml"
    return shipped_folder("prompts") / f"{name}.toml"


@cache
def load_prompts(override: Path | None = None) -> Prompts:
    if override is not None and not override.is_dir():
        raise PromptError(
            f"The prompts folder {override} does not exist; point --prompts at a folder "
            "holding any of " + ", ".join(f"{name}.toml" for name in (*FILES, "corpus")) + "."
        )
    readers = {name: _Reader(_path(name, override)) for name in FILES}
    return Prompts(
        causes=_causes(readers["causes"]),
        icebreakers=readers["icebreakers"].texts(readers["icebreakers"].doc, "icebreakers"),
        starters=_starters(readers["starters"]),
        banks=_banks(readers["questions"]),
        celebrate=readers["celebrate"].texts(readers["celebrate"].doc, "prompts"),
    )


def _corpus_pairs(reader: _Reader, causes: tuple[Cause, ...]) -> list[Labelled]:
    keys = {cause.key for cause in causes}
    found: list[Labelled] = []
    for number, table in enumerate(reader.tables("pair"), start=1):
        where = f"pair[{number}]."
        sides = reader.texts(table, "sides", where)
        for key in table:
            if key == "sides":
                continue
            if key not in keys:
                raise reader.fail(
                    f"{where}{key}", "a cause key of causes.toml (" + ", ".join(sorted(keys)) + ")"
                )
            found.extend(
                Labelled(text, key, " x ".join(sides)) for text in reader.texts(table, key, where)
            )
    return found


@cache
def load_corpus(override: Path | None = None) -> tuple[Labelled, ...]:
    """The labelled complaints: the shipped corpus.toml, or the user's (which replaces it,
    or adds to it when it says `keep_shipped = true`)."""
    causes = load_prompts(override).causes
    shipped = shipped_folder("prompts") / "corpus.toml"
    path = _path("corpus", override)
    reader = _Reader(path)
    found = _corpus_pairs(reader, causes)
    keep = reader.doc.get("keep_shipped", False)
    if not isinstance(keep, bool):
        raise reader.fail("keep_shipped", "true or false")
    if keep and path != shipped:
        found = _corpus_pairs(_Reader(shipped), causes) + found
    return tuple(found)
