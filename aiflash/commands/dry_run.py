"""`aiflash dry-run`: will this submission be accepted and scored? Checked locally, before upload."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ..bundle.dryrun import dry_run
from ..errors import AiflashError

REPO = Path(__file__).resolve().parents[2]


def run(args: argparse.Namespace) -> int:
    if not args.submission.is_file():
        raise AiflashError(f"{args.submission}: file not found; give the zip you intend to upload.")
    with tempfile.TemporaryDirectory(prefix="dry-run.") as scratch:
        lines, ok = dry_run(args.submission, args.phase, args.repo, Path(scratch), args.data, args.manifest)
    for line in lines:
        print(line)
    return 0 if ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dry-run", help="check a submission zip locally, as Codabench would run it, before uploading",
        description="Runs the zip through the challenge's own ingestion and scoring programs the way "
                    "Codabench's worker does, on data you have, plus checks that need no ground truth "
                    "(zip layout, image names and sizes, runtime against the phase's time limit). "
                    "Exit 0 when the submission is ready to upload.")
    parser.add_argument("submission", type=Path, help="the zip you intend to upload")
    parser.add_argument("--phase", type=int, default=2, help="phase number: 1, 2 (results) or 3 (code); "
                                                             "default 2")
    parser.add_argument("--data", type=Path, default=None,
                        help="data you have: a folder with input/ and mask_personmask/, plus gt/ to get a "
                             "Score (default: the sample in reference_data/sample)")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="the phase's manifest from the starting kit (manifests/phaseN.json): checks "
                             "names and sizes against the real phase; default: derived from --data")
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="challenge repository checkout (default: the one this aiflash comes from)")
    parser.set_defaults(handler=run)
