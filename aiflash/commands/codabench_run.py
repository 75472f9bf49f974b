"""`aiflash codabench-run`: a submission through a built bundle, as Codabench's worker runs it."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ..bundle.simulate import report_lines, simulate
from ..bundle.validate import DEFAULT_QUEUE_TIME_CAP
from ..errors import AiflashError


def run(args: argparse.Namespace) -> int:
    for path in (args.bundle, args.submission):
        if not path.is_file():
            raise AiflashError(f"{path}: file not found; give the bundle zip and a submission zip.")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        if any(args.keep.iterdir()):
            raise AiflashError(f"{args.keep}: folder is not empty; give a new or empty --keep folder.")
    with tempfile.TemporaryDirectory(prefix="codabench-run.") as scratch:
        workdir = args.keep or Path(scratch)
        setup, result = simulate(args.bundle, args.submission, args.phase, workdir, args.time_cap)
        for line in report_lines(setup, result):
            print(line)
    if args.keep:
        print(f"Job folders kept in {args.keep}/run (prediction/, scoring/).")
    return 0 if result.ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "codabench-run", help="run a submission through a bundle zip exactly as Codabench would",
        description="Unpack the bundle as Codabench does, run the prediction job and the scoring job in "
                    "temporary folders laid out like the worker's, and print the final status and the "
                    "leaderboard row. Exit 0 only when the submission would finish with scores.",
        epilog="Containers become subprocesses: each program's metadata.yaml command is split like a "
               "shell would (no shell), run with the program folder as working directory, `python3` "
               "meaning this interpreter; arguments naming /app mounts are rewritten to the job "
               "folders, and the programs' folder options (--input-dir, --submission-dir, "
               "--reference-dir, --prediction-dir, --output-dir, whose defaults are the /app paths) "
               "are appended with those folders. Use --keep to inspect them.")
    parser.add_argument("bundle", type=Path, help="the bundle zip (dist/<name>.zip)")
    parser.add_argument("submission", type=Path, help="the submission zip, as uploaded")
    parser.add_argument("--phase", type=int, required=True, help="phase number, 1-based in phase order")
    parser.add_argument("--keep", type=Path, help="keep the job folders here (new or empty folder)")
    parser.add_argument("--time-cap", type=int, default=DEFAULT_QUEUE_TIME_CAP,
                        help=f"the site's MAX_EXECUTION_TIME_LIMIT for the default queue "
                             f"(default: {DEFAULT_QUEUE_TIME_CAP} s)")
    parser.set_defaults(handler=run)
