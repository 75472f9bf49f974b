"""The no-rescale guard's output check, and the verdict and policy applied to audit findings.

The output check is always on: whatever a model returns must be exactly the input's H×W×3, with
values that are 8-bit or floats in [0, 1], or that image fails with a message naming both shapes.
Findings of the resampling audit (``audit.py``) carry a severity: ``info`` (allowed by the rules,
verdict ``clean``), ``flag`` (for the organisers' review, verdict ``flagged``) and ``reject`` (a
proven round trip under policy ``reject``: the image fails, verdict ``rejected``). Under policy
``flag`` a proven round trip is recorded with severity ``flag`` and the image is kept.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..forensics import CLEAN, FLAGGED, REJECTED
from .audit import FLAG, REJECT, Finding

POLICIES = ("reject", "flag")
DEFAULT_POLICY = "reject"
_RETURN_HINT = "return an HxWx3 RGB numpy array, uint8 (0..255) or float in [0, 1]"


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)


def check_result(result: object, input_shape: tuple[int, int, int], source: str = "restore()") -> np.ndarray:
    """Validate a model's result for an input of ``input_shape`` (H, W, 3) and return it as HxWx3
    uint8 (floats are scaled by 255 and rounded). Raises ModelError saying what is wrong and how to
    fix it.
    """
    if type(result).__module__.startswith("torch"):
        raise ModelError(f"{source} returned a torch tensor; {_RETURN_HINT} "
                         f"(e.g. tensor.permute(1, 2, 0).clamp(0, 1).cpu().numpy()).")
    if not isinstance(result, np.ndarray):
        raise ModelError(f"{source} returned {type(result).__name__}; {_RETURN_HINT}.")
    if result.shape != tuple(input_shape):
        raise ModelError(
            f"{source} returned {_shape(result.shape)} but the input is {_shape(input_shape)} (HxWxC); "
            f"results must have exactly the input's size and 3 RGB channels: resolution rescaling "
            f"is not allowed."
        )
    if result.dtype == np.uint8:
        return np.ascontiguousarray(result)
    if not np.issubdtype(result.dtype, np.floating):
        raise ModelError(f"{source} returned an array of dtype {result.dtype}; {_RETURN_HINT}.")
    values = result.astype(np.float32, copy=False)
    finite = np.isfinite(values)
    if not finite.all():
        bad = int(values.size - np.count_nonzero(finite))
        raise ModelError(f"{source} returned {bad} NaN or infinite value(s); check the model for "
                         f"divisions by zero or overflow (float16?), then clip to [0, 1].")
    low, high = float(values.min()), float(values.max())
    if low < 0.0 or high > 1.0:
        raise ModelError(f"{source} returned float values from {low:.4g} to {high:.4g}; float results "
                         f"must lie in [0, 1] (clip them, e.g. np.clip(x, 0, 1)).")
    return np.rint(values * 255.0).astype(np.uint8)


def audit_verdict(findings: list[Finding] | list[dict]) -> str:
    """``rejected`` if any finding has severity reject, ``flagged`` if any has flag, else ``clean``
    (informational findings: what the rules allow)."""
    severities = {f.severity if isinstance(f, Finding) else f.get("severity") for f in findings}
    if REJECT in severities:
        return REJECTED
    return FLAGGED if FLAG in severities else CLEAN


def rejection(findings: list[Finding], policy: str) -> str | None:
    """The image's error when the audit proved a round trip and ``policy`` is reject, else None."""
    proven = [f for f in findings if f.severity == REJECT]
    if not proven or policy != REJECT:
        return None
    first = proven[0]
    more = f" (+{len(findings) - 1} more finding(s) in ingestion.json)" if len(findings) > 1 else ""
    return (f"rescaling detected: {first.describe()}{more}; results must be computed at the input's "
            f"full resolution (resolution rescaling is prohibited by the rules).")
