"""Compute device choice: CUDA when present, CPU otherwise, with TF32 off (spec §2)."""

from __future__ import annotations


def pick_device(requested: str | None = None) -> str:
    """'cuda' if available (or requested), else 'cpu'. TF32 is disabled: it moves SSIM by ~7e-4."""
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    if requested:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("CUDA was requested but no CUDA device is available")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_description(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"CPU ({torch.get_num_threads()} threads)"
