"""Shared test fixtures: repository paths and one LPIPS model per session (weights from disk)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "reference_data" / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PYTHON = sys.executable


@pytest.fixture(scope="session")
def lpips_model():
    from aiflash.metrics.lpips import LpipsAlex

    return LpipsAlex("cpu")
