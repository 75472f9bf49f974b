"""Subcommands of the ``aiflash`` command line; each module exposes ``register(subparsers)``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_folder_options(parser: argparse.ArgumentParser, folders: tuple[tuple[str, str], ...],
                       defaults: dict[str, str] | None = None) -> None:
    """One ``--<name>`` folder option per (name, help) pair. With ``defaults`` (a program's Codabench
    mount points) they are optional; without (the ``aiflash`` command line) they are required."""
    for name, help_text in folders:
        flag = "--" + name.replace("_", "-")
        if defaults:
            parser.add_argument(flag, type=Path, default=Path(defaults[name]),
                                help=f"{help_text} (default: {defaults[name]})")
        else:
            parser.add_argument(flag, type=Path, required=True, help=help_text)
