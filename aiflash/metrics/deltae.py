"""Colour difference on the person in OpenCV 8-bit Lab units (spec §2, ``DeltaE_person``).

Not CIE76: OpenCV's 8-bit Lab stores L*255/100, a+128, b+128 (rounded), so lightness weighs 2.55x.
The published values and the 2..40 normalisation range are in these units, so we keep them.
"""

from __future__ import annotations

import cv2
import numpy as np

from .lpips import person_box

_SUM_CHANNELS = np.ones((1, 3), np.float32)


def person_delta_e(result: np.ndarray, gt: np.ndarray, person: np.ndarray) -> float | None:
    """Mean Euclidean distance of 8-bit Lab triplets over person pixels; None if no person pixel.

    |differences| of uint8 Lab values are exact, their squares and sums are exact integers in
    float32 (< 2**24), and the square root is IEEE float32, as in the published numpy code; only
    the mean is accumulated in float64 (cv2.mean).
    """
    box = person_box(person, margin=0)
    if box is None:
        return None
    # Only the person's bounding box is converted (OpenCV's Lab is per pixel): about a third of
    # a portrait's pixels, the same numbers.
    top, bottom, left, right = box
    result, gt = result[top:bottom, left:right], gt[top:bottom, left:right]
    diff = cv2.absdiff(cv2.cvtColor(result, cv2.COLOR_RGB2LAB),
                       cv2.cvtColor(gt, cv2.COLOR_RGB2LAB)).astype(np.float32)
    squared = cv2.transform(diff * diff, _SUM_CHANNELS)
    inside = np.ascontiguousarray(person[top:bottom, left:right]).view(np.uint8)
    return float(cv2.mean(cv2.sqrt(squared), mask=inside)[0])
