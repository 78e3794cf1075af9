"""Publishing a session to a git wiki that already has 500 pages, in process.

Builds a bare repository holding 500 pages (about 2 KiB each, plus Home.md) and the demo
session, then times the code path of `therapy publish` (Sessions.publish) against the
baseline, measured in the same run on the same wiki: a bare `git commit` of one changed
file in a working clone of it. Runs are interleaved so that machine noise hits all alike.

- publish, bare: by path, so through a temporary repository (fetch of the tip, one commit,
  push, clean-up), with a change to the plan before each run (an action item marked done,
  then open again), so every run makes a commit;
- publish, clone: the same into a working clone of the wiki (fetch, commit, push, and the
  clone fast-forwarded);
- publish, unchanged: the same session again with nothing changed (no commit).

Goal (absolute, since people wait for it): median of "publish, bare" under 1 s. Ratio =
median / median of the baseline commit. The plan is rendered once before timing (the
suggester is built then): a `therapy publish` process pays that build again, about a
second, as `therapy export` does; an "info" row times one whole command.
Usage: python bench/publish.py [--runs N] [--pages N] [--strict]
Reports only; exits 0 unless --strict is given and the goal is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# First: importing common puts the checkout on sys.path for the therapy imports below.
from common import environment, p90, run, therapy_command

from therapy.demo import build_demo
from therapy.service import Sessions
from therapy.store import Store

GOAL_S = 1.0
WORDS = "lead agreement campaign pipeline follow-up quota revenue webinar nurture".split()


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def wiki_with_pages(scratch: Path, pages: int) -> Path:
    """A bare wiki of PAGES pages (and Home.md), written in one commit from a clone."""
    bare = scratch / "wiki.git"
    git("init", "--quiet", "--bare", str(bare))
    writer = scratch / "writer"
    git("clone", "--quiet", str(bare), str(writer))
    (writer / "Home.md").write_text("# Welcome\n\nWritten by hand.\n")
    for number in range(pages):
        body = " ".join(WORDS[(number + i) % len(WORDS)] for i in range(300))
        (writer / f"Page-{number:04d}.md").write_text(f"# Page {number}\n\n{body}\n")
    git("add", "--all", cwd=writer)
    git("commit", "--quiet", "-m", f"{pages} pages", cwd=writer)
    git("push", "--quiet", "origin", "HEAD", cwd=writer)
    return bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each measure")
    parser.add_argument("--pages", type=int, default=500, help="pages already in the wiki")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="therapy-bench-publish-"))
    try:
        config = scratch / "gitconfig"  # an identity, the same on every machine
        config.write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n")
        os.environ["GIT_CONFIG_GLOBAL"] = str(config)
        started = time.perf_counter()
        bare = wiki_with_pages(scratch, args.pages)
        baseline_clone, publish_clone = scratch / "baseline", scratch / "clone"
        git("clone", "--quiet", str(bare), str(baseline_clone))
        git("clone", "--quiet", str(bare), str(publish_clone))
        data = scratch / "data"
        sessions = Sessions(Store(data))
        code = build_demo(sessions)
        item = sessions.board(code).action_items[-1]
        ref = f"{code}-{item.id}"
        sessions.publish(code, str(bare))  # warm-up: the suggester, the first pages
        sessions.publish(code, str(publish_clone))
        setup = time.perf_counter() - started
        flips = iter(("done", "open") * (2 * args.runs + 2))

        def commit_one_file(number: int) -> Callable[[], object]:
            page = baseline_clone / "Page-0001.md"
            page.write_text(f"# Page 1\n\nedit {number}\n")
            return lambda: git("commit", "--quiet", "-m", "edit", "--", page.name, cwd=page.parent)

        def changed(target: str) -> Callable[[], object]:
            sessions.mark(ref, next(flips))  # before the clock starts: the plan changes
            return lambda: sessions.publish(code, target)

        steps: dict[str, Callable[[int], Callable[[], object]]] = {
            "git commit (baseline)": commit_one_file,
            "publish, bare": lambda number: changed(str(bare)),
            "publish, clone": lambda number: changed(str(publish_clone)),
            "publish, unchanged": lambda number: lambda: sessions.publish(code, str(bare)),
        }
        times: dict[str, list[float]] = {name: [] for name in steps}
        commits: dict[str, int] = {}
        for number in range(args.runs):
            for name, prepare in steps.items():
                step = prepare(number)
                t0 = time.perf_counter()
                done = step()
                times[name].append(time.perf_counter() - t0)
                made = getattr(done, "commit", "baseline")
                commits[name] = commits.get(name, 0) + (made is not None)
        sessions.mark(ref, "open")
        command, shown = therapy_command()
        whole, _ = run(
            [*command, "--data-dir", str(data), "publish", code, "--wiki", str(bare)],
            environment(None) | {"GIT_CONFIG_GLOBAL": str(config)},
        )
        pages = len(git("--git-dir", str(bare), "ls-tree", "--name-only", "HEAD").split())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    base = statistics.median(times["git commit (baseline)"])
    print(
        f"publish: a wiki of {pages} pages after the runs ({args.pages} written before them); "
        f"setup {setup:.1f} s; {args.runs} runs each, interleaved"
    )
    print(
        f"{'measure':<24}{'n':>4}{'commits':>9}{'median ms':>11}{'p90 ms':>9}"
        f"{'x commit':>10}{'goal':>10}"
    )
    for name, values in times.items():
        median = statistics.median(values)
        goal = f"< {GOAL_S:g} s" if name == "publish, bare" else ""
        print(
            f"{name:<24}{len(values):>4}{commits[name]:>9}{median * 1e3:>11.1f}"
            f"{p90(values) * 1e3:>9.1f}{median / base:>10.1f}{goal:>10}"
        )
    print(
        f"{'whole command (info)':<24}{1:>4}{'':>9}{whole * 1e3:>11.1f}{'':>9}"
        f"{whole / base:>10.1f}{'info':>10}  ({shown} publish, suggester built)"
    )
    verdict = statistics.median(times["publish, bare"]) < GOAL_S
    print("PASS" if verdict else "MISS")
    return 1 if args.strict and not verdict else 0


if __name__ == "__main__":
    sys.exit(main())
