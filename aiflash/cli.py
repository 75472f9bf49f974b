"""The one command-line entry point, ``aiflash``: every feature is a subcommand."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from typing import NoReturn

from .errors import AiflashError

# One line per subcommand module (each exposes register(subparsers)); add new ones here.
COMMAND_MODULES = (
    "aiflash.commands.score",
    "aiflash.commands.weights",
    "aiflash.commands.ingest",
    "aiflash.commands.leaderboard",
    "aiflash.commands.stats",
    "aiflash.commands.assess",
    "aiflash.commands.reproduce",
    "aiflash.commands.bundle",
    "aiflash.commands.data",
    "aiflash.commands.codabench_run",
    "aiflash.commands.codabench",
    "aiflash.commands.dry_run",
    "aiflash.commands.forensics",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiflash", description="NTIRE 2026 RAIM Track 3 (AI Flash Portrait) tools.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def run_handler(handler, args: argparse.Namespace) -> int:
    """Run a command; user errors become one line on stderr and a non-zero exit."""
    try:
        return int(handler(args) or 0)
    except AiflashError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: keep the traceback, end with one readable line
        if os.environ.get("AIFLASH_DEBUG"):
            raise
        traceback.print_exc()
        print(f"error: internal error ({type(exc).__name__}: {exc}); please report it to the "
              f"organisers with the log above.", file=sys.stderr)
        return 1


def exit_now(code: int) -> NoReturn:
    """End a program without the interpreter's teardown, which takes ~1 s once torch and
    torchvision are imported. Call it only when every output file is written and closed (ours
    are written whole and renamed into place); the standard streams are flushed here."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_handler(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
