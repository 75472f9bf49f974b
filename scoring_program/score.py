#!/usr/bin/env python3
"""Codabench scoring program for NTIRE 2026 RAIM Track 3 (AI Flash Portrait).

Defaults are the Codabench scoring-job mounts: reference data in /app/input/ref (gt/ and
mask_personmask/), results in /app/input/res, outputs to /app/output. All logic lives in the
``aiflash`` package, copied beside this file by the bundle builder.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aiflash.cli import exit_now, run_handler  # noqa: E402
from aiflash.commands import score  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    score.add_arguments(parser, defaults=score.CODABENCH_DEFAULTS)
    exit_now(run_handler(score.run, parser.parse_args()))
