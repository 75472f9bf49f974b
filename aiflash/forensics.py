"""Resampling forensics: does an output carry the pixel signature of a resolution round trip?

The content check (layer 1 of the no-rescale guard) compares each output with its input. A model
that reduces the resolution and enlarges the result back leaves two traces that no code hook has
to see:

* **periodicity**: interpolation makes neighbouring pixels linear combinations of fewer source
  samples, so the local difference energy varies with the period of the resampling grid
  (Popescu & Farid 2005, "Exposing digital forgeries by detecting traces of resampling", IEEE TSP
  53(2); Kirchner 2008, "Fast and reliable resampling detection by spectral analysis of fixed
  linear predictor residue", ACM MM&Sec; Gallagher 2005, "Detection of linear and cubic
  interpolation in JPEG compressed images", CRV). We measure the peaks of the spectrum of the
  mean absolute first and second differences, 0.2-0.5 cycles/px, in the output *relative to the
  input's* (the input is a JPEG whose 8-px blocks have their own peaks at k/8).
* **lost detail**: a reduced representation cannot carry frequencies above its Nyquist limit, so
  the input's detail above half-Nyquist does not come back coherently (spectral source-resolution
  estimation, e.g. Kirchner & Gloe 2009, "On resampling detection in re-compressed images", and
  the upscaling-detection literature built on it). We measure the part of the output's spectrum
  above 0.25 cycles/px that is *coherent* with the input's (a regression gain per frequency
  ring), relative to the same gain at mid frequencies; noise added after an upscale is not
  coherent with the input and does not raise it.

Every measure is a pure function of arrays. The check only ever *flags* an image for the
organisers' review; it never rejects by itself (the audit of ``restore()`` calls is what rejects a
proven round trip). Thresholds and the measures that vote come from the scoring profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CLEAN, FLAGGED, REJECTED = "clean", "flagged", "rejected"
VERDICTS = (CLEAN, FLAGGED, REJECTED)
_RANK = {verdict: rank for rank, verdict in enumerate(VERDICTS)}

MEASURES = ("periodicity", "hf_coherence")


@dataclass(frozen=True)
class ForensicsSettings:
    """Thresholds of the content check (the profile's ``forensics:`` section).

    ``periodicity_max``: flag when the output's resampling peaks exceed the input's by more than
    this (log10 units of peak over spectrum median). ``hf_coherence_min``: flag when less than this
    share of the input's coherent detail above half-Nyquist reappears in the output. ``voting``
    names the measures that may flag; the others are computed and reported only.
    """

    periodicity_max: float = 0.60
    hf_coherence_min: float = 0.10
    voting: tuple[str, ...] = MEASURES
    false_flag_rate: str = ""  # how the thresholds were calibrated, shown in reports

    @classmethod
    def from_mapping(cls, raw: dict | None) -> ForensicsSettings:
        """Settings from the profile's ``forensics:`` mapping (missing keys keep the defaults)."""
        raw = dict(raw or {})
        voting = tuple(raw.get("voting", MEASURES))
        unknown = set(voting) - set(MEASURES)
        if unknown:
            raise ValueError(f"unknown forensics measures {sorted(unknown)} (known: {', '.join(MEASURES)})")
        return cls(
            periodicity_max=float(raw.get("periodicity_max", cls.periodicity_max)),
            hf_coherence_min=float(raw.get("hf_coherence_min", cls.hf_coherence_min)),
            voting=voting,
            false_flag_rate=str(raw.get("false_flag_rate", "")),
        )


@dataclass(frozen=True)
class Screening:
    """The content check's result for one image: verdict, JSON-ready measures, reasons if flagged."""

    verdict: str
    measures: dict[str, float] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()


def worst_verdict(*verdicts: str) -> str:
    """The most serious of several verdicts (clean < flagged < rejected); clean if none given."""
    return max(verdicts, key=_RANK.__getitem__, default=CLEAN)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an HxWx3 uint8 RGB image as float32 in [0, 255]."""
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    return rgb.astype(np.float32) @ weights


def periodicity(output: np.ndarray, source: np.ndarray) -> float:
    """Placeholder until calibrated (see module docstring)."""
    return 0.0


def hf_coherence(output: np.ndarray, source: np.ndarray) -> float:
    """Placeholder until calibrated (see module docstring)."""
    return 1.0


def screen(output: np.ndarray, source: np.ndarray, person: np.ndarray | None,
           settings: ForensicsSettings) -> Screening:
    """Screen one output (HxWx3 uint8 RGB) against its input (same shape) for a resampling trace.

    ``person`` (HxW bool or None) is accepted for masks-aware measures; the verdict is ``clean``
    or ``flagged``, never ``rejected``.
    """
    if output.shape != source.shape:
        return Screening(FLAGGED, {}, (f"output size {output.shape[1]}x{output.shape[0]} differs from "
                                       f"the input's {source.shape[1]}x{source.shape[0]}",))
    out_y, src_y = luminance(output), luminance(source)
    measures = {
        "periodicity": round(periodicity(out_y, src_y), 4),
        "hf_coherence": round(hf_coherence(out_y, src_y), 4),
    }
    reasons = []
    if "periodicity" in settings.voting and measures["periodicity"] > settings.periodicity_max:
        reasons.append(f"periodic resampling trace {measures['periodicity']:.2f} above the input's "
                       f"(threshold {settings.periodicity_max:.2f})")
    if "hf_coherence" in settings.voting and measures["hf_coherence"] < settings.hf_coherence_min:
        reasons.append(f"only {measures['hf_coherence']:.2f} of the input's fine detail comes back "
                       f"(threshold {settings.hf_coherence_min:.2f})")
    return Screening(FLAGGED if reasons else CLEAN, measures, tuple(reasons))
