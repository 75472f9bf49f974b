"""`aiflash leaderboard`: the self-contained leaderboard site (phases, expert scores, final)."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from ..leaderboard import LeaderboardError, build_site, load_results, load_subjective, write_site
from ..profile import load_profile


def run(args: argparse.Namespace) -> int:
    if not (args.phase1 or args.phase2 or args.reproduction or args.subjective):
        raise LeaderboardError(
            "nothing to show: give at least one of --phase1, --phase2, --reproduction, --subjective "
            "(with make: make leaderboard PHASE2=... REPRODUCTION=... SUBJECTIVE=...).")
    profile = load_profile(args.profile)
    site = build_site(
        profile,
        phase1=load_results(args.phase1) if args.phase1 else None,
        phase2=load_results(args.phase2) if args.phase2 else None,
        reproduction=load_results(args.reproduction) if args.reproduction else None,
        subjective=load_subjective(args.subjective) if args.subjective else None,
        title=args.title,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        disqualify_discrepancies=args.disqualify_discrepancies,
    )
    paths = write_site(args.output_dir, site)
    for table in site.tables:
        print(f"  {table.title}: {len(table.rows)} team(s)")
    print(f"Leaderboard: {paths[0]} (+ CSV/JSON of {len(site.tables)} table(s) in {args.output_dir})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "leaderboard", help="build the leaderboard site (one self-contained HTML page + CSV/JSON)")
    parser.add_argument("--phase1", type=Path, default=None,
                        help="Phase 1 (development) results, in any of the --phase2 formats")
    parser.add_argument("--phase2", type=Path, default=None,
                        help="Phase 2 results: Codabench leaderboard CSV export, a CSV/JSON table "
                             "(team + scores.json keys), or a folder of <team>/scores.json")
    parser.add_argument("--reproduction", type=Path, default=None,
                        help="Phase 3 reproduction report (reproduction.csv/.json from 'aiflash "
                             "reproduce', or any CSV/JSON with team, Score and metrics, online_score, "
                             "difference, discrepancy, status, reason)")
    parser.add_argument("--subjective", type=Path, default=None,
                        help="tallied expert scores (subjective_scores.csv from 'aiflash assess tally')")
    parser.add_argument("--output-dir", type=Path, default=Path("leaderboard_output"),
                        help="where index.html and the tables go (default: leaderboard_output)")
    parser.add_argument("--title", default="NTIRE 2026 RAIM · Track 3 — AI Flash Portrait")
    parser.add_argument("--profile", default="default",
                        help="profile with the metric directions and final_ranking weights")
    parser.add_argument("--disqualify-discrepancies", action="store_true",
                        help="treat every flagged discrepancy as a disqualification")
    parser.set_defaults(handler=run)
