"""Whole-frame SSIM on luma with the published 5x5 binomial window (spec §2, ``SSIM_global``).

Not scikit-image's SSIM: the window is [1,4,6,4,1]^T[1,4,6,4,1]/256, borders are zero-padded by 2
and the map is averaged over every pixel, borders included. The window is separable, so two 1-D
passes (cv2.sepFilter2D, zero border) give the published 2-D convolution's numbers far faster.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

C1 = 0.01**2
C2 = 0.03**2
_TAPS = np.array([1, 4, 6, 4, 1], np.float32) / 16.0
_LUMA = np.array([[0.299, 0.587, 0.114]], np.float32)
_PLANES = 10  # float32 HxW planes one SSIM needs, besides the HxWx3 luma input
_scratch = threading.local()


def _workspace(height: int, width: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """This thread's scratch memory as one HxWx3 and ``_PLANES`` HxW float32 arrays, kept from
    image to image (grown when an image is larger): fresh 1K planes cost more in page faults on
    a VM than the arithmetic on them (~40% of SSIM's time in a scoring run)."""
    size = height * width
    flat = getattr(_scratch, "flat", None)
    if flat is None or flat[0].size < 3 * size:
        flat = _scratch.flat = [np.empty(3 * size, np.float32)] + [
            np.empty(size, np.float32) for _ in range(_PLANES)]
    return (flat[0][:3 * size].reshape(height, width, 3),
            [plane[:size].reshape(height, width) for plane in flat[1:]])


def _luma(rgb: np.ndarray, channels: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Y of the [0,1] float32 image. One cv2 pass over the interleaved channels (4x faster than
    three strided numpy products); its sum rounds differently only in the last bit (< 2e-7)."""
    channels = np.divide(rgb, np.float32(255.0), out=channels, dtype=np.float32)
    return cv2.transform(channels, _LUMA, dst=out)


def _blur(plane: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return cv2.sepFilter2D(plane, cv2.CV_32F, _TAPS, _TAPS, dst=out, borderType=cv2.BORDER_CONSTANT)


def global_ssim(result: np.ndarray, gt: np.ndarray) -> float:
    """Mean SSIM over all HxW pixels of the luma Y = 0.299R + 0.587G + 0.114B; 1.0 if identical.

    The float32 operations group as in the published formula; they run in place in this
    thread's scratch planes (the map is memory-bound at 1K), and the mean is accumulated in
    float64.
    """
    channels, (x, y, mu_x, mu_y, var_x, var_y, cov, product, mu_xx, mu_yy) = _workspace(*gt.shape[:2])
    _luma(result, channels, x)
    _luma(gt, channels, y)
    _blur(x, mu_x)
    _blur(y, mu_y)
    _blur(np.multiply(x, x, out=product), var_x)
    _blur(np.multiply(y, y, out=product), var_y)
    _blur(np.multiply(x, y, out=product), cov)
    np.multiply(mu_x, mu_x, out=mu_xx)
    np.multiply(mu_y, mu_y, out=mu_yy)
    mu_xy = np.multiply(mu_x, mu_y, out=mu_x)
    var_x -= mu_xx
    var_y -= mu_yy
    cov -= mu_xy
    numerator = np.multiply(mu_xy, 2, out=mu_xy)
    numerator += C1
    cov *= 2
    cov += C2
    numerator *= cov
    denominator = np.add(mu_xx, mu_yy, out=mu_xx)
    denominator += C1
    var_x += var_y
    var_x += C2
    denominator *= var_x
    numerator /= denominator
    return float(cv2.mean(numerator)[0])
