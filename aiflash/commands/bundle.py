"""`aiflash bundle`: build the Codabench bundle zip (or `--validate` an existing one)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..bundle import BUNDLE_NAME
from ..bundle.build import build_bundle
from ..bundle.validate import errors, validate_bundle, validate_zip
from ..errors import BundleError


def phase_source(text: str) -> tuple[int, Path]:
    number, sep, folder = text.partition("=")
    if not sep or not number.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected N=FOLDER, e.g. 2=/data/validation")
    return int(number), Path(folder)


def validate(path: Path) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        problems = validate_zip(path, Path(scratch)) if path.is_file() else validate_bundle(path)
        for problem in problems:
            print(problem, file=sys.stderr if not problem.warning else sys.stdout)
    if errors(problems):
        raise BundleError(f"{path}: {len(errors(problems))} Codabench rule(s) broken (listed above).")
    print(f"{path}: passes every Codabench rule checked ({len(problems)} warning(s)).")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.validate:
        return validate(args.validate)
    built = build_bundle(args.source, args.output_dir, dict(args.phase_data), args.name,
                         report=lambda line: print(line, file=sys.stderr))
    phases = built.manifest["phases"]
    counts = ", ".join(f"phase {n}: {len(p['images'])} image(s) from {p['source']}"
                       for n, p in phases.items())
    size = built.zip_path.stat().st_size / 1e6
    print(f"Built {built.zip_path} ({size:.1f} MB; {counts}).")
    print(f"Check a submission against it: aiflash codabench-run {built.zip_path} SUBMISSION.zip --phase 2")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bundle", help="build the Codabench bundle zip from competition.yaml and the phase data",
        description="Stage everything competition.yaml names, fill data/phaseN/ from each phase's data "
                    "folder (input/, gt/, mask_personmask/), validate every Codabench rule, write the zip.")
    parser.add_argument("--source", type=Path, default=Path("."),
                        help="repository checkout holding competition.yaml (default: current folder)")
    parser.add_argument("--output-dir", type=Path, default=Path("dist"),
                        help="where the zip goes (default: dist)")
    parser.add_argument("--name", default=BUNDLE_NAME, help=f"zip name without .zip (default: {BUNDLE_NAME})")
    parser.add_argument("--phase-data", type=phase_source, action="append", default=[], metavar="N=FOLDER",
                        help="phase N's data folder (repeatable; default for every phase: the sample "
                             "in reference_data/sample)")
    parser.add_argument("--validate", type=Path, metavar="BUNDLE",
                        help="only validate an existing bundle zip or folder, then exit")
    parser.set_defaults(handler=run)
