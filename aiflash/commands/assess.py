"""`aiflash assess prepare|tally|final`: the expert blind assessment and the final ranking."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from ..assess import Key, PrepareOptions, prepare, read_ballots, tally
from ..assess.tally import check_pages, parse_rank_weights, vote_files
from ..atomic import write_text
from ..leaderboard import FinalSettings, final_ranking, load_results, load_subjective
from ..leaderboard import columns as C
from ..leaderboard.site import apply_discrepancy_policy
from ..profile import load_profile

SUBJECTIVE_FILE = "subjective_scores"
FINAL_FILE = "final_ranking"


def _write_table(frame: pd.DataFrame, output_dir: Path, stem: str) -> list[Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = output_dir / f"{stem}.csv", output_dir / f"{stem}.json"
    write_text(csv_path, frame.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
    rows = [{k: (None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                 else (v.item() if hasattr(v, "item") else v)) for k, v in r.items()}
            for r in frame.to_dict("records")]
    write_text(json_path, json.dumps({"rows": rows}, indent=2, ensure_ascii=False) + "\n")
    return [csv_path, json_path]


def run_prepare(args: argparse.Namespace) -> int:
    options = PrepareOptions(top=args.top, images=args.images, experts=args.experts, seed=args.seed,
                             display_size=args.display_size, zoom_quality=args.zoom_quality,
                             title=args.title, force=args.force)
    done = prepare(load_results(args.scores), args.results, args.inputs, args.pages_dir, args.key,
                   options)
    key = done.key
    print(f"Assessment {key.assessment_id}: {len(key.teams)} teams × {len(key.images)} images, "
          f"{len(done.pages)} expert page(s), seed {key.seed}.")
    for path in done.pages:
        print(f"  {path}  ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"Sealed key (label → team, keep it away from the experts): {done.key_path}")
    return 0


def run_tally(args: argparse.Namespace) -> int:
    settings = FinalSettings.from_profile(load_profile(args.profile))
    weights = parse_rank_weights(args.rank_weights)
    key = Key.read(args.key)
    if args.pages_dir:
        check_pages(key, args.pages_dir)
    ballots = read_ballots(vote_files(args.votes), key, args.allow_missing_experts)
    table = tally(ballots, key, settings.subjective_low, settings.subjective_high, weights)
    paths = _write_table(table, args.output_dir, SUBJECTIVE_FILE)
    print(f"Tallied {len(ballots)} expert(s) × {len(key.images)} images; rank weights "
          f"{','.join(f'{w:g}' for w in weights)}; normalised to "
          f"{settings.subjective_low:g}–{settings.subjective_high:g}.")
    for row in table.itertuples():
        print(f"  {row.team:<24} top-3 {row.top3:>4}  points {row.points:>7g}  "
              f"subjective {row.subjective:.3f}")
    print(f"Written: {', '.join(map(str, paths))}")
    return 0


def run_final(args: argparse.Namespace) -> int:
    settings = FinalSettings.from_profile(load_profile(args.profile))
    objective = load_results(args.objective)
    if args.disqualify_discrepancies:
        objective = apply_discrepancy_policy(objective)
    table = final_ranking(objective, load_subjective(args.subjective), settings)
    paths = _write_table(table[["rank", C.TEAM, C.FINAL, C.SCORE, C.SUBJECTIVE, C.TIE_BREAK,
                                C.DISQUALIFIED, C.REASON]], args.output_dir, FINAL_FILE)
    print(f"Final ranking: {settings.formula('Score', 'subjective')}")
    for row in table.to_dict("records"):
        rank = "–" if pd.isna(row["rank"]) else str(row["rank"])
        if row[C.DISQUALIFIED]:
            print(f"  {rank:>3}  {row[C.TEAM]:<24} –  ({row[C.REASON]})")
        else:
            print(f"  {rank:>3}  {row[C.TEAM]:<24} {row[C.FINAL]:.3f}  (Score {row[C.SCORE]:.4f}, "
                  f"subjective {row[C.SUBJECTIVE]:.3f})")
    print(f"Written: {', '.join(map(str, paths))}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("assess", help="expert blind assessment: prepare, tally, final")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = actions.add_parser("prepare", help="voting pages (one per expert) and the sealed key")
    p.add_argument("--scores", type=Path, required=True,
                   help="objective results to pick the Top-N from (reproduction report, Codabench "
                        "export, CSV/JSON table or folder of <team>/scores.json)")
    p.add_argument("--results", type=Path, required=True,
                   help="folder of result folders, one per team: <results>/<team>/<image>.png")
    p.add_argument("--inputs", type=Path, required=True, help="folder of the low-light input images")
    p.add_argument("--pages-dir", type=Path, required=True, help="where the expert pages go")
    p.add_argument("--key", type=Path, required=True,
                   help="where the sealed key goes (a JSON file outside --pages-dir)")
    p.add_argument("--top", type=int, default=12, help="number of teams assessed (default 12)")
    p.add_argument("--images", type=int, default=50, help="number of images (default 50)")
    p.add_argument("--experts", type=int, default=5, help="number of expert pages (default 5)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed for images and labels (default: a fresh one, recorded in the key)")
    p.add_argument("--display-size", type=int, default=640,
                   help="long side in pixels of the grid copies (the zoom shows full resolution)")
    p.add_argument("--zoom-quality", type=int, default=90, help="JPEG quality of the 100%% copies")
    p.add_argument("--title", default="AI Flash Portrait — expert assessment")
    p.add_argument("--force", action="store_true", help="replace an existing key")
    p.set_defaults(handler=run_prepare)

    t = actions.add_parser("tally", help="count the experts' Top-3 votes into subjective scores")
    t.add_argument("votes", type=Path, nargs="+", help="vote files (or folders of them)")
    t.add_argument("--key", type=Path, required=True, help="the sealed key written by prepare")
    t.add_argument("--pages-dir", type=Path, default=None,
                   help="also check that these pages are the ones the key recorded")
    t.add_argument("--rank-weights", default="1,1,1",
                   help="points for a 1st, 2nd, 3rd place (default 1,1,1: count Top-3 picks; "
                        "e.g. 3,2,1)")
    t.add_argument("--allow-missing-experts", action="store_true",
                   help="tally even if some experts sent no vote file")
    t.add_argument("--output-dir", type=Path, default=Path("assessment_output"),
                   help="where subjective_scores.csv/.json go (default: assessment_output)")
    t.add_argument("--profile", default="default", help="profile holding final_ranking.subjective_range")
    t.set_defaults(handler=run_tally)

    f = actions.add_parser("final", help="Final = objective weight × Score + subjective weight × expert")
    f.add_argument("--objective", type=Path, required=True,
                   help="objective results (the Phase 3 reproduction report)")
    f.add_argument("--subjective", type=Path, required=True, help="subjective_scores.csv from tally")
    f.add_argument("--output-dir", type=Path, default=Path("assessment_output"),
                   help="where final_ranking.csv/.json go (default: assessment_output)")
    f.add_argument("--profile", default="default", help="profile holding the final_ranking weights")
    f.add_argument("--disqualify-discrepancies", action="store_true",
                   help="treat every flagged discrepancy as a disqualification")
    f.set_defaults(handler=run_final)
