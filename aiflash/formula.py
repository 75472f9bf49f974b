"""The objective Score from metric means (spec §4), with every constant taken from a profile.

normalised s = clip((v - min) / (max - min), 0, 1), inverted for lower-is-better metrics;
mapped = s ** exponent; GlobalScore = 0.5 mapped(PSNR_bg) + 0.5 mapped(SSIM_global);
components L, D, G get adaptive weights w_k = base_k * exp(sensitivity * (1 - c_k)), normalised;
Score = offset + scale * sum(w_k * c_k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .profile import Profile


@dataclass(frozen=True)
class ScoreBreakdown:
    """Everything the Score is made of, for scores.json and the report."""

    means: dict[str, float]
    normalised: dict[str, float]
    mapped: dict[str, float]
    components: dict[str, float]
    weights: dict[str, float]
    global_score: float
    score: float


def normalise(value: float, low: float, high: float, higher_is_better: bool) -> float:
    scaled = (value - low) / (high - low)
    if not higher_is_better:
        scaled = 1.0 - scaled
    return min(1.0, max(0.0, scaled))


def compute_score(means: dict[str, float], profile: Profile) -> ScoreBreakdown:
    """Score and its parts from the per-metric means (keys: the profile's scored metrics)."""
    normalised = {
        key: normalise(means[key], r.low, r.high, r.higher_is_better)
        for key, r in profile.ranges.items()
    }
    mapped = {key: s**profile.exponent for key, s in normalised.items()}
    global_score = sum(w * mapped[key] for key, w in profile.global_weights.items())
    components = {"LPIPS_person": mapped["LPIPS_person"],
                  "DeltaE_person": mapped["DeltaE_person"], "GlobalScore": global_score}
    raw = {k: profile.base_weights[k] * math.exp(profile.sensitivity * (1.0 - c))
           for k, c in components.items()}
    total = sum(raw.values())
    weights = {k: w / total for k, w in raw.items()}
    adaptive = sum(weights[k] * components[k] for k in components)
    return ScoreBreakdown(
        means=dict(means), normalised=normalised, mapped=mapped, components=components,
        weights=weights, global_score=global_score,
        score=profile.score_offset + profile.score_scale * adaptive,
    )
