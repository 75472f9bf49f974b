"""`aiflash score` and the Codabench scoring program: score a folder of results."""

from __future__ import annotations

import argparse
import sys

from ..discovery import requires_code_submission
from ..errors import SubmissionError
from ..ingestion.record import ingestion_sections, read_ingestion
from ..profile import load_profile
from ..report import (
    SCORES_FILE,
    detailed_results_html,
    leaderboard_scores,
    write_detailed_html,
    write_per_image_csv,
    write_scores_json,
)
from ..scoring import score_submission
from . import add_folder_options

CODABENCH_DEFAULTS = {
    "reference_dir": "/app/input/ref",
    "prediction_dir": "/app/input/res",
    "output_dir": "/app/output",
}


def add_arguments(parser: argparse.ArgumentParser, defaults: dict[str, str] | None = None) -> None:
    """The scoring options; with ``defaults`` (the Codabench paths) the folders are optional."""
    add_folder_options(parser, (
        ("reference_dir", "folder holding gt/ and mask_personmask/"),
        ("prediction_dir", "folder holding the result images (a single wrapping folder is fine)"),
        ("output_dir", "where scores.json, per_image_scores.csv, detailed_results.html go"),
    ), defaults)
    parser.add_argument("--profile", default="default",
                        help="scoring profile: 'default', 'extended' or a YAML file")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    # A stale scores.json from an earlier run must never pass for this run's result.
    (args.output_dir / SCORES_FILE).unlink(missing_ok=True)
    # A code submission's record: images the model failed on are reported with its error.
    ingestion = read_ingestion(args.prediction_dir)
    if ingestion is None and requires_code_submission(args.reference_dir):
        raise SubmissionError(
            "this phase takes code submissions, but these results were not produced by the ingestion "
            "program (no ingestion.json): upload a zip with model.py at its root, not result images.")
    result = score_submission(args.reference_dir, args.prediction_dir, profile, args.device,
                              progress=None if args.quiet else "bar" if sys.stderr.isatty() else "lines",
                              failed_in_ingestion=ingestion.failed if ingestion else None)
    scores = leaderboard_scores(result.breakdown, result.extra_means)
    write_per_image_csv(args.output_dir, result.per_image)
    write_detailed_html(args.output_dir, detailed_results_html(
        scores, result.breakdown, result.per_image, profile, result.notes,
        sections=ingestion_sections(ingestion) if ingestion else None,
        previews=result.previews))
    write_scores_json(args.output_dir, scores)
    print(f"Scored {len(result.per_image)} images on {result.device} (profile {profile.name}).")
    for key, value in scores.items():
        print(f"  {key:<17} {value:.4f}")
    for note in result.notes:
        print(f"  note: {note}")
    print(f"Outputs in {args.output_dir}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("score", help="score a folder of results against reference data")
    add_arguments(parser)
    parser.set_defaults(handler=run)
