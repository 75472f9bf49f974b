"""PSNR on the background (spec §2, ``PSNR_bg``)."""

from __future__ import annotations

import math

import cv2
import numpy as np

PSNR_IDENTICAL = 100.0


def background_psnr(result: np.ndarray, gt: np.ndarray, person: np.ndarray) -> float | None:
    """PSNR in dB over non-person pixels, per-pixel error = mean of the 3 channels' squared error
    (values in [0,1]). Returns 100.0 when the background is identical, None when the mask covers
    every pixel (undefined: the image is left out of this metric's mean).

    The squared 8-bit differences are summed exactly, so this is the published float32
    computation without its rounding.
    """
    background = ~person
    count = int(np.count_nonzero(background))
    if count == 0:
        return None
    # Sum of squared 8-bit differences over the background, all channels: exact in float64.
    total = cv2.norm(result, gt, cv2.NORM_L2SQR, mask=background.view(np.uint8))
    if total == 0:
        return PSNR_IDENTICAL
    mse = total / (3.0 * 255.0 * 255.0 * count)
    return 20.0 * math.log10(1.0 / math.sqrt(mse))
