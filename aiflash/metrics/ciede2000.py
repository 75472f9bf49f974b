"""True CIEDE2000 colour difference on the person (informational, never in the Score).

sRGB (IEC 61966-2-1) -> XYZ -> CIELAB under D65, then CIE 2000 Delta E (colour-science), averaged
over person pixels. Only the person pixels are converted, to keep it affordable at 1K.
"""

from __future__ import annotations

import numpy as np


def person_ciede2000(result: np.ndarray, gt: np.ndarray, person: np.ndarray) -> float | None:
    """Mean CIEDE2000 over person pixels; None if there is no person pixel."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour-science warns that matplotlib is absent
        import colour

    if not person.any():
        return None
    d65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]

    def to_lab(rgb: np.ndarray) -> np.ndarray:
        xyz = colour.sRGB_to_XYZ(rgb[person].astype(np.float64) / 255.0)
        return colour.XYZ_to_Lab(xyz, d65)

    return float(colour.delta_E(to_lab(result), to_lab(gt), method="CIE 2000").mean())
