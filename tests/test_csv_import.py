"""`therapy import CODE FILE.csv`: every row or none, and a file that is not what it seems
(an unclosed quote, a text longer than the csv module reads) is refused with the line to
look at and what is wrong there."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from therapy.cli import cli
from therapy.service import Sessions


@pytest.fixture
def imported(data_dir: Path, sessions: Sessions, tmp_path: Path):  # type: ignore[no-untyped-def]
    code = sessions.create("Q3 lead handoff", ["Sales", "Marketing"]).code
    table = tmp_path / "complaints.csv"

    def run(text: str) -> tuple[Result, list[str]]:
        table.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "import", code, str(table)])
        assert "Traceback" not in result.output
        return result, [c.text for c in sessions.board(code).complaints]

    return run


def refused(result: Result, line: int) -> None:
    assert result.exit_code == 1, result.output
    assert "Imported" not in result.output
    assert result.stderr.startswith(f"Error: Line {line} of ")
    assert "quote" in result.stderr and "nothing was imported" in result.stderr.lower()
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "line"),
    [
        # never closed: the rest of the file would be one card
        ('side,text\nSales,"Leads are cold\nMarketing,Sales never calls\nSales,Third\n', 2),
        # closed by the next row's quote: two rows would be one card
        ('side,text\nSales,fine\nSales,"unclosed\nMarketing,"ok text",Dana\nSales,x\n', 3),
        # a quote inside a quoted text not doubled
        ('Sales,fine\nSales,fine too\nMarketing,"He said "no" to me",Dana\n', 3),
        # after a quoted text that rightly spans lines
        ('Sales,"line one\nline two"\nSales,"never closed\nSales,x\n', 3),
        # never closed, and the rest of the file is longer than any field
        ('Sales,fine\nSales,"never closed\n' + "Marketing,a long row\n" * 10_000, 2),
    ],
    ids=["never-closed", "closed-by-next-row", "inner-quote", "after-multi-line", "long-rest"],
)
def test_an_unclosed_quote_is_refused_with_its_line(imported, text: str, line: int) -> None:
    result, texts = imported(text)
    refused(result, line)
    assert texts == []


def test_a_quoted_text_may_span_lines(imported) -> None:
    result, texts = imported(
        'side,text,author\nSales,"Line one\nline two, with a ""quote""",Sam\nMarketing,x\n'
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "Imported 2 complaints into " + result.stdout.split()[-1] + "\n"
    assert texts == ['Line one\nline two, with a "quote"', "x"]


def test_a_row_is_named_by_the_line_it_starts_on(imported) -> None:
    result, texts = imported('Sales,fine\nSales,"\n\n"\nSales,x\n')
    assert result.exit_code == 1
    assert "complaints.csv: Line 2: A complaint must be 1 to 1,000 characters" in result.stderr
    assert texts == []


def test_a_field_over_the_csv_modules_limit_is_said_as_a_long_text_not_an_open_quote(
    imported,
) -> None:
    """No quote anywhere, one field over csv.field_size_limit(): the sentence names the long
    text on its line, and nothing is imported."""
    result, texts = imported("side,text\nSales,ok\nSales," + "y" * 200_000 + "\nMarketing,fine\n")
    assert result.exit_code == 1
    assert "quote" not in result.stderr, result.stderr
    assert result.stderr.startswith("Error: Line 3 of "), result.stderr
    assert (
        f"holds a text of over {csv.field_size_limit():,} characters, far more than a "
        "complaint's; nothing was imported." in result.stderr
    ), result.stderr
    assert "Imported" not in result.output
    assert texts == []
