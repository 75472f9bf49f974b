"""Shared test fixtures: repository paths and one LPIPS model per session (weights from disk)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "reference_data" / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PYTHON = sys.executable


@pytest.fixture(scope="session", params=["onnxruntime+ncnn", "onnxruntime", "torch"])
def lpips_model(request):
    """LPIPS on each CPU runtime the scorer can use (ONNX Runtime with ncnn's 3x3 convolutions by
    default, ONNX Runtime alone without ncnn, torch on CUDA or without onnxruntime): every test
    that takes it holds for all three."""
    from aiflash.metrics.lpips import LpipsAlex

    return LpipsAlex("cpu", runtime=request.param)
