"""`aiflash stats`: the ranking statistics (issue 12) as plain-text tables for the challenge
report, the same numbers as the leaderboard page and its CSV/JSON."""

from __future__ import annotations

import argparse
import html
import re
from pathlib import Path

import pandas as pd

from ..atomic import write_text
from ..leaderboard import LeaderboardError
from .leaderboard import add_input_options, gather, site_of, statistics_of

# Printed: what names a row, the value ranked, and the statistics (the rest is on the leaderboard).
_KEEP = ("rank", "team", "expert", "measure", "upper", "lower", "Score", "Final", "subjective")
_STATISTICS = ("p_ahead", "tied_with_next", "rho_with_others", "outlier", "final_changes_without",
               "objective_weight", "subjective_weight", "tau", "rho", "teams")


def _text(frame: pd.DataFrame, markdown: bool = False) -> str:
    if not markdown:
        return frame.to_string(index=False, na_rep="–", float_format=lambda v: f"{v:.4f}")

    def cell(value) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return "–"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "|".join("---" for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    inputs = gather(args)
    statistics = statistics_of(inputs)
    if statistics is None:
        raise LeaderboardError("no statistics to compute: give per-image scores (--per-image, or a "
                               "reproduction report with its teams/ folder) and/or --votes with --key.")
    args.title = "statistics"
    site = site_of(inputs, args, statistics)
    settings = statistics.settings
    print(f"Profile {inputs.profile.name}: {settings.resamples:,} bootstrap resamples, "
          f"{settings.confidence:.0%} {settings.method} intervals, seed {settings.seed}, neighbours "
          f"tied below P = {settings.tie_threshold:g}.")
    for note in inputs.notes:
        print(note)
    written = []
    for table in site.tables:
        if table.slug in ("phase1", "phase2", "phase3"):
            continue  # their statistics are the "<phase>-confidence" tables
        frame = table.exported
        statistics_keys = [k for k in frame.columns if k.endswith(("_low", "_high")) or k in _STATISTICS]
        if not statistics_keys:
            continue
        print(f"\n### {table.title}\n" if args.markdown else f"\n== {table.title} ==")
        if table.slug in ("agreement", "weights"):
            print(_plain(table.intro) + ("\n" if args.markdown else ""))
        if len(frame):
            print(_text(frame[[k for k in frame.columns if k in _KEEP or k in statistics_keys]],
                        args.markdown))
        if args.output_dir:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            for suffix, text in ((".csv", table.to_csv()), (".json", table.to_json())):
                path = args.output_dir / f"{table.slug}{suffix}"
                write_text(path, text)
                written.append(path)
    if written:
        print(f"\nWritten: {len(written)} file(s) in {args.output_dir}")
    return 0


def _plain(fragment: str) -> str:
    """An HTML intro as one line of text."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats", help="ranking statistics as text: Score/rank intervals, ties, expert agreement, "
                      "leave-one-expert-out, weight sensitivity, objective vs subjective")
    add_input_options(parser)
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="also write every table as CSV and JSON here")
    parser.add_argument("--markdown", action="store_true",
                        help="print Markdown tables (for the challenge report) instead of plain text")
    parser.set_defaults(handler=run)
