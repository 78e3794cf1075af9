"""The trend of a pair from the shell: each session's standing, what it complained about (by
cause) and how much of what was agreed before got done, and whether the pair is improving."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from therapy.cli import Config, cli, fail, pass_config
from therapy.text import shown

if TYPE_CHECKING:
    from therapy.model import SessionPoint, Trend
    from therapy.prompts import Prompts

JSON_VERSION = 1


def verdict(trend: Trend) -> dict[str, Any]:
    found = trend.verdict()
    return {
        "direction": found.direction,
        "latest": found.latest,
        "earlier_mean": found.earlier_mean,
        "scored_sessions": found.scored_sessions,
        "statement": found.statement,
    }


def short_names(prompts: Prompts, keys: list[str]) -> dict[str, str]:
    """Cause keys to one-word names for a compact mix ('goals', 'expectations', 'gaps'):
    the last word of each name, or the whole name where two would read the same."""
    names = {key: prompts.cause_name(key) if key else "Unsorted" for key in keys}
    last = {key: name.split()[-1].lower() if name.split() else key for key, name in names.items()}
    clashes = {word for word in last.values() if list(last.values()).count(word) > 1}
    return {key: names[key].lower() if last[key] in clashes else last[key] for key in keys}


def _mix(point: SessionPoint, names: dict[str, str], widths: dict[str, int]) -> str:
    return " · ".join(f"{names[key]} {point.causes.get(key, 0):>{widths[key]}}" for key in names)


def _value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _table(trend: Trend, prompts: Prompts) -> list[str]:
    from rich.cells import cell_len  # titles in any script line up (Rich comes with Textual)

    def pad(text: str, width: int) -> str:
        return text + " " * (width - cell_len(text))

    points = trend.points
    keys = list(dict.fromkeys(k for p in points for k in p.causes))  # prompts' order, "" last
    keys = [k for k in keys if k] + ([""] if "" in keys else [])
    names = short_names(prompts, keys)
    widths = {k: max(len(str(p.causes.get(k, 0))) for p in points) for k in keys}
    statuses = [
        f"{p.relationship.label} {_value(p.relationship.score)}"
        if p.relationship.score is not None
        else p.relationship.label
        for p in points
    ]
    title_width = max([len("TITLE"), *(cell_len(p.title) for p in points)])
    status_width = max([len("STATUS"), *(len(s) for s in statuses)])
    count = f"{len(points)} session{'s' if len(points) != 1 else ''}, oldest first"
    lines = [f"{trend.label} ({count})"]
    lines.append(
        f"{'DATE':<12}{'CODE':<8}{pad('TITLE', title_width)}  {pad('STATUS', status_width)}  "
        f"{'APPR':>4}  {'BAL':>4}  {'COV':>4}  {'FOLLOW':>6}  CAUSES"
    )
    for point, status in zip(points, statuses, strict=True):
        signals = {s.name: s.value for s in point.relationship.signals}
        lines.append(
            f"{point.date:<12}{point.code:<8}{pad(point.title, title_width)}  "
            f"{pad(status, status_width)}  {_value(signals.get('appreciation')):>4}  "
            f"{_value(signals.get('balance')):>4}  {_value(signals.get('coverage')):>4}  "
            f"{_value(point.follow_through):>6}  {_mix(point, names, widths)}"
        )
    if not points:
        lines.append("No session of this pair could be read.")
    lines.append(trend.verdict().statement)
    return lines


def _json(trends: list[Trend], prompts: Prompts) -> dict[str, Any]:
    def session(point: SessionPoint) -> dict[str, Any]:
        relationship = point.relationship
        return {
            "code": point.code,
            "title": point.title,
            "created": point.created,
            "date": point.date,
            "phase": point.phase.value,
            "relationship": {
                "label": relationship.label,
                "score": relationship.score,
                "signals": {
                    s.name: {"value": s.value, "reason": s.reason} for s in relationship.signals
                },
            },
            "causes": [
                {
                    "key": key or None,
                    "name": prompts.cause_name(key) if key else "Unsorted",
                    "complaints": count,
                }
                for key, count in point.causes.items()
            ],
            "complaints": sum(point.causes.values()),
            "action_items": {
                "total": point.action_items,
                "done": point.done,
                "dropped": point.dropped,
            },
            "follow_through": point.follow_through,
        }

    return {
        "version": JSON_VERSION,
        "pairs": [
            {
                "pair": trend.label,
                "key": trend.pair,
                "sessions": [session(point) for point in trend.points],
                "trend": verdict(trend),
                "skipped": trend.skipped,
            }
            for trend in trends
        ],
    }


@cli.command()
@click.option("--pair", default=None, help="Only this pair: its name, or its sides as 'A x B'.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@pass_config
def history(config: Config, pair: str | None, fmt: str) -> None:
    """The trend of each pair, session by session (oldest first): its standing and four
    signals, the mix of causes it complained about, and whether it is improving."""
    sessions = config.sessions
    unread: list[str] = []
    trends = sessions.trend(pair=pair, unread=unread)
    for problem in unread:  # a session of no known pair: it may be this one's
        click.echo(problem, err=True)
    if not trends and pair is not None:
        fail(f"There are no sessions of the pair '{shown(pair)}'; run 'therapy list' to see them.")
    skipped = [code for trend in trends for code in trend.skipped]
    if skipped:
        click.echo(
            f"Skipped {len(skipped)} session{'s' if len(skipped) != 1 else ''} that could not "
            f"be read (damaged): {', '.join(skipped)}.",
            err=True,
        )
    prompts = sessions.prompts
    if fmt == "json":
        import json

        click.echo(json.dumps(_json(trends, prompts), indent=2))  # ASCII: no raw control anywhere
    else:
        for index, trend in enumerate(trends):
            if index:
                click.echo()
            click.echo("\n".join(_table(trend, prompts)))
    if not trends:
        click.echo(
            "No pair has a session yet (a demo copy is no one's history); start one with: "
            'therapy new "Q3 lead handoff" --pair "EMEA revenue"',
            err=True,
        )
