"""`aiflash data`: check an organiser's dataset folders and pack a phase's data for the bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..bundle.data import DEV, INPUTS, REFERENCE, scan, split, write_phase


def run(args: argparse.Namespace) -> int:
    data = scan(args.source)
    note = {}
    kinds = (REFERENCE, INPUTS)
    if args.public_split is not None:
        data = split(data, args.public_split, args.seed)
        note = {"public_split": args.public_split, "seed": args.seed}
        kinds = (REFERENCE, INPUTS, DEV)
    manifest = write_phase(data, args.output, kinds, note)
    sizes = sorted({f"{i.width}x{i.height}" for i in data.images})
    print(f"Packed {len(data.images)} image(s) ({', '.join(sizes)}) from {args.source} into {args.output}: "
          f"{', '.join(kinds)}; manifest {manifest.name}.")
    print(f"Use it in the bundle with: aiflash bundle --phase-data N={args.output}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="check dataset folders and pack a phase's reference_data and input_data",
        description="From SOURCE (input/, gt/, mask_personmask/ as released) write OUTPUT/reference_data "
                    "(gt + masks), OUTPUT/input_data (inputs + masks) and OUTPUT/manifest.json (sha256 of "
                    "every file). Refuses mismatched stems, sizes that differ, unreadable files.")
    parser.add_argument("source", type=Path, help="folder holding input/, gt/ and mask_personmask/")
    parser.add_argument("--output", type=Path, required=True, help="new or empty folder for the phase data")
    parser.add_argument("--public-split", type=int, metavar="N",
                        help="keep a seeded random subset of N images (a public development split); "
                             "also writes OUTPUT/dev_data (inputs + gt + masks) for participants")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default: 0)")
    parser.set_defaults(handler=run)
