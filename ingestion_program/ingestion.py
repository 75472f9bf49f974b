#!/usr/bin/env python3
"""Codabench ingestion program for NTIRE 2026 RAIM Track 3 (AI Flash Portrait).

Runs a code submission's model.py on the phase's inputs. Defaults are the Codabench
prediction-job mounts: inputs in /app/input_data (input/ and mask_personmask/), the submission
in /app/ingested_program, results to /app/output. Without a model.py (a result submission) it
does nothing and exits 0. All logic lives in the ``aiflash`` package, copied beside this file by
the bundle builder.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aiflash.cli import run_handler  # noqa: E402
from aiflash.commands import ingest  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ingest.add_arguments(parser, defaults=ingest.CODABENCH_DEFAULTS)
    sys.exit(run_handler(ingest.run, parser.parse_args()))
