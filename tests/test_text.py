"""The text policy: one place decides what of a person's typing is kept."""

from __future__ import annotations

import sys
import unicodedata

from therapy.text import clean_line, clean_text, name_key, shown


def test_every_format_character_of_this_python_is_removed() -> None:
    formats = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert len(formats) > 150
    leftover = [f"U+{ord(ch):04X}" for ch in formats if clean_line(f"a{ch}b") != "ab"]
    assert leftover == []


def test_fillers_and_controls_are_removed_and_bad_bytes_replaced() -> None:
    for filler in "\u115f\u1160\u3164\uffa0":
        assert clean_line(f"Al{filler}ex") == "Alex"
    assert clean_text("one\r\ntwo\x1b[2J\x07\x9b") == "one\ntwo[2J"
    assert clean_line(b"bad \xff byte".decode("utf-8", "surrogateescape")) == "bad \ufffd byte"
    assert clean_line("\ud800 alone") == "\ufffd alone"


def test_names_compare_as_a_person_reads_them() -> None:
    assert name_key("Al\u200bex") == name_key("ALEX") == name_key("Ａｌｅｘ")
    assert name_key("Alex") != name_key("Alexa")


def test_an_echo_is_one_short_line() -> None:
    echoed = shown("A" * 100_000 + "\n\x1b[31m")
    assert len(echoed) <= 60 and "\n" not in echoed and "\x1b" not in echoed
    assert shown("K7QX2M") == "K7QX2M"
