"""Whole-frame SSIM on luma with the published 5x5 binomial window (spec §2, ``SSIM_global``).

Not scikit-image's SSIM: the window is [1,4,6,4,1]^T[1,4,6,4,1]/256, borders are zero-padded by 2
and the map is averaged over every pixel, borders included. The window is separable, so two 1-D
passes (cv2.sepFilter2D, zero border) give the published 2-D convolution's numbers far faster.
"""

from __future__ import annotations

import cv2
import numpy as np

C1 = 0.01**2
C2 = 0.03**2
_TAPS = np.array([1, 4, 6, 4, 1], np.float32) / 16.0


def _luma(rgb: np.ndarray) -> np.ndarray:
    channels = rgb.astype(np.float32) / np.float32(255.0)
    return 0.299 * channels[..., 0] + 0.587 * channels[..., 1] + 0.114 * channels[..., 2]


def _blur(plane: np.ndarray) -> np.ndarray:
    return cv2.sepFilter2D(plane, cv2.CV_32F, _TAPS, _TAPS, borderType=cv2.BORDER_CONSTANT)


def global_ssim(result: np.ndarray, gt: np.ndarray) -> float:
    """Mean SSIM over all HxW pixels of the luma Y = 0.299R + 0.587G + 0.114B; 1.0 if identical."""
    x, y = _luma(result), _luma(gt)
    mu_x, mu_y = _blur(x), _blur(y)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = _blur(x * x) - mu_xx
    var_y = _blur(y * y) - mu_yy
    cov = _blur(x * y) - mu_xy
    ssim_map = ((2 * mu_xy + C1) * (2 * cov + C2)) / ((mu_xx + mu_yy + C1) * (var_x + var_y + C2))
    return float(ssim_map.mean(dtype=np.float64))
