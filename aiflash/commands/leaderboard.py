"""`aiflash leaderboard`: the self-contained leaderboard site (phases, expert scores, final), with
the ranking statistics (issue 12) when per-image scores or vote files are given."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..assess import Key, read_ballots, tally
from ..assess.tally import parse_rank_weights, vote_files
from ..codabench.layout import pulled
from ..leaderboard import LeaderboardError, build_site, load_results, load_subjective, write_site
from ..leaderboard.confidence import Statistics, compute_statistics
from ..leaderboard.ranking import FinalSettings
from ..leaderboard.site import Site, apply_discrepancy_policy
from ..leaderboard.sources import load_per_image
from ..profile import Profile, load_profile
from ..stats.experts import Votes, votes_from_ballots

PHASES = ("phase1", "phase2", "phase3")


@dataclass(frozen=True)
class Inputs:
    profile: Profile
    results: dict[str, pd.DataFrame]  # phase slug -> canonical results (discrepancy policy applied)
    subjective: pd.DataFrame | None
    per_image: dict[str, dict[str, pd.DataFrame]]
    votes: Votes | None
    notes: tuple[str, ...]


def _per_image_option(text: str) -> tuple[str, Path]:
    phase, sep, folder = text.partition("=")
    phase = {"reproduction": "phase3", "1": "phase1", "2": "phase2", "3": "phase3"}.get(phase, phase)
    if not sep or phase not in PHASES or not folder:
        raise argparse.ArgumentTypeError(f"{text!r}: expected PHASE=FOLDER with PHASE one of phase1, "
                                         f"phase2, phase3 (e.g. phase2=phase2_per_image)")
    return phase, Path(folder)


def gather(args: argparse.Namespace) -> Inputs:
    """Every input the leaderboard and ``aiflash stats`` read, loaded and checked."""
    profile = load_profile(args.profile)
    results = {}
    notes = []
    folders = dict(args.per_image or [])
    for slug, path in (("phase1", args.phase1), ("phase2", args.phase2), ("phase3", args.reproduction)):
        if pull := pulled(path):  # an `aiflash codabench pull` folder: its leaderboard and scoring outputs
            path = pull.leaderboard
            if slug not in folders and pull.scoring.is_dir():
                folders[slug] = pull.scoring
            notes.append(f"{slug}: pulled from Codabench, {pull.description} ({pull.root})")
        if path:
            results[slug] = load_results(path)
    if "phase3" in results and args.disqualify_discrepancies:
        results["phase3"] = apply_discrepancy_policy(results["phase3"])
    if args.reproduction and "phase3" not in folders and (Path(args.reproduction).parent / "teams").is_dir():
        folders["phase3"] = Path(args.reproduction).parent  # `aiflash reproduce` keeps them there
        notes.append(f"Phase 3 per-image scores: {folders['phase3'] / 'teams'}")
    for slug in folders:
        if slug not in results:
            raise LeaderboardError(f"--per-image {slug}=...: no {slug} results given to attach them to.")
    per_image = {slug: load_per_image(folder) for slug, folder in folders.items()}
    subjective = load_subjective(args.subjective) if args.subjective else None
    votes = None
    if args.votes:
        if not args.key:
            raise LeaderboardError("--votes needs --key (the sealed key of 'aiflash assess prepare').")
        key = Key.read(args.key)
        weights = parse_rank_weights(args.rank_weights)
        ballots = read_ballots(vote_files(args.votes), key, args.allow_missing_experts)
        votes = votes_from_ballots(ballots, key, weights)
        if subjective is None:
            final = FinalSettings.from_profile(profile)
            subjective = tally(ballots, key, final.subjective_low, final.subjective_high, weights)
            subjective.attrs["source"] = "the tally of the vote files"
    elif args.key:
        raise LeaderboardError("--key without --votes: give the experts' vote files too.")
    return Inputs(profile, results, subjective, per_image, votes, tuple(notes))


def statistics_of(inputs: Inputs) -> Statistics | None:
    if not inputs.per_image and inputs.votes is None:
        return None
    return compute_statistics(inputs.profile, inputs.results, inputs.per_image, inputs.votes,
                              inputs.subjective)


def site_of(inputs: Inputs, args: argparse.Namespace, statistics: Statistics | None) -> Site:
    return build_site(
        inputs.profile,
        phase1=inputs.results.get("phase1"), phase2=inputs.results.get("phase2"),
        reproduction=inputs.results.get("phase3"), subjective=inputs.subjective,
        title=args.title,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        disqualify_discrepancies=args.disqualify_discrepancies, statistics=statistics,
    )


def _require_input(args: argparse.Namespace) -> None:
    if not (args.phase1 or args.phase2 or args.reproduction or args.subjective or args.votes):
        raise LeaderboardError(
            "nothing to show: give at least one of --phase1, --phase2, --reproduction, --subjective "
            "(with make: make leaderboard PHASE2=... REPRODUCTION=... SUBJECTIVE=...).")


def run(args: argparse.Namespace) -> int:
    _require_input(args)
    inputs = gather(args)
    site = site_of(inputs, args, None if args.no_statistics else statistics_of(inputs))
    paths = write_site(args.output_dir, site)
    for note in inputs.notes:
        print(f"  {note}")
    for table in site.tables:
        print(f"  {table.title}: {len(table.rows)} row(s)")
    print(f"Leaderboard: {paths[0]} (+ CSV/JSON of {len(site.tables)} table(s) in {args.output_dir})")
    return 0


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """The inputs shared by ``aiflash leaderboard`` and ``aiflash stats``."""
    parser.add_argument("--phase1", type=Path, default=None,
                        help="Phase 1 (development) results, in any of the --phase2 formats")
    parser.add_argument("--phase2", type=Path, default=None,
                        help="Phase 2 results: Codabench leaderboard CSV export, a CSV/JSON table "
                             "(team + scores.json keys), a folder of <team>/scores.json, or a folder "
                             "from 'aiflash codabench pull' (its per-image scores come with it)")
    parser.add_argument("--reproduction", type=Path, default=None,
                        help="Phase 3 reproduction report (reproduction.csv/.json from 'aiflash "
                             "reproduce', or any CSV/JSON with team, Score and metrics, online_score, "
                             "difference, discrepancy, status, reason)")
    parser.add_argument("--subjective", type=Path, default=None,
                        help="tallied expert scores (subjective_scores.csv from 'aiflash assess tally')")
    parser.add_argument("--profile", default="default",
                        help="profile with the metric directions, final_ranking weights and statistics "
                             "settings")
    parser.add_argument("--disqualify-discrepancies", action="store_true",
                        help="treat every flagged discrepancy as a disqualification")
    stats = parser.add_argument_group(
        "ranking statistics", "intervals, significance and expert agreement (settings: the profile's "
        "'statistics' section)")
    stats.add_argument("--per-image", type=_per_image_option, action="append", metavar="PHASE=FOLDER",
                       help="per-image scores of a phase's teams: FOLDER/<team>/.../per_image_scores.csv "
                            "or FOLDER/<team>.csv (repeatable; phase1, phase2, phase3). Phase 3's are "
                            "found next to a reproduction report by themselves")
    stats.add_argument("--votes", type=Path, nargs="+", default=None,
                       help="the experts' vote files (or folders of them), as for 'aiflash assess tally'")
    stats.add_argument("--key", type=Path, default=None, help="the sealed assessment key (with --votes)")
    stats.add_argument("--rank-weights", default="1,1,1",
                       help="points for a 1st, 2nd, 3rd place, as given to 'aiflash assess tally'")
    stats.add_argument("--allow-missing-experts", action="store_true",
                       help="use the vote files present even if some experts sent none")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "leaderboard", help="build the leaderboard site (one self-contained HTML page + CSV/JSON)")
    add_input_options(parser)
    parser.add_argument("--output-dir", type=Path, default=Path("leaderboard_output"),
                        help="where index.html and the tables go (default: leaderboard_output)")
    parser.add_argument("--title", default="NTIRE 2026 RAIM · Track 3 — AI Flash Portrait")
    parser.add_argument("--no-statistics", action="store_true",
                        help="leave out the ranking statistics even when their inputs are given")
    parser.set_defaults(handler=run)
