"""The objective Score from metric means (spec §4), with every constant taken from a profile.

normalised s = clip((v - min) / (max - min), 0, 1), inverted for lower-is-better metrics;
mapped = s ** exponent; GlobalScore = 0.5 mapped(PSNR_bg) + 0.5 mapped(SSIM_global);
components L, D, G get adaptive weights w_k = base_k * exp(sensitivity * (1 - c_k)), normalised;
Score = offset + scale * sum(w_k * c_k).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

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


def normalise(value: ArrayLike, low: float, high: float, higher_is_better: bool) -> np.ndarray:
    """Metric value(s) mapped linearly to [0, 1], 1 = best; works elementwise on arrays."""
    scaled = (np.asarray(value, dtype=float) - low) / (high - low)
    if not higher_is_better:
        scaled = 1.0 - scaled
    return np.clip(scaled, 0.0, 1.0)


@dataclass(frozen=True)
class ScoreArrays:
    """The parts of the Score for arrays of metric means (any shape, elementwise): what the
    bootstrap resamples; ``compute_score`` is the same code on scalars."""

    normalised: dict[str, np.ndarray]
    mapped: dict[str, np.ndarray]
    components: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    global_score: np.ndarray
    score: np.ndarray


def score_arrays(means: Mapping[str, ArrayLike], profile: Profile) -> ScoreArrays:
    """Score and its parts, elementwise over arrays of per-metric means of one shape."""
    normalised = {key: normalise(means[key], r.low, r.high, r.higher_is_better)
                  for key, r in profile.ranges.items()}
    mapped = {key: s**profile.exponent for key, s in normalised.items()}
    global_score = sum(w * mapped[key] for key, w in profile.global_weights.items())
    components = {"LPIPS_person": mapped["LPIPS_person"],
                  "DeltaE_person": mapped["DeltaE_person"], "GlobalScore": global_score}
    raw = {k: profile.base_weights[k] * np.exp(profile.sensitivity * (1.0 - c))
           for k, c in components.items()}
    total = sum(raw.values())
    weights = {k: w / total for k, w in raw.items()}
    adaptive = sum(weights[k] * components[k] for k in components)
    return ScoreArrays(normalised, mapped, components, weights, np.asarray(global_score),
                       profile.score_offset + profile.score_scale * adaptive)


def compute_score(means: dict[str, float], profile: Profile) -> ScoreBreakdown:
    """Score and its parts from the per-metric means (keys: the profile's scored metrics)."""
    parts = score_arrays(means, profile)

    def floats(values: dict[str, np.ndarray]) -> dict[str, float]:
        return {k: float(v) for k, v in values.items()}

    return ScoreBreakdown(
        means=dict(means), normalised=floats(parts.normalised), mapped=floats(parts.mapped),
        components=floats(parts.components), weights=floats(parts.weights),
        global_score=float(parts.global_score), score=float(parts.score),
    )


def final_score(score: ArrayLike, subjective: ArrayLike, objective_weight: float,
                subjective_weight: float) -> np.ndarray:
    """The final ranking's score (the profile's ``final_ranking``): objective_weight × Score +
    subjective_weight × expert score, elementwise."""
    return objective_weight * np.asarray(score, float) + subjective_weight * np.asarray(subjective, float)
