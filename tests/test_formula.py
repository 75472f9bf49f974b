"""The Score formula: the published leaderboard row, a plain restatement on random inputs, profiles."""

from __future__ import annotations

import random
import sys

import pytest

from aiflash.errors import ProfileError
from aiflash.formula import compute_score
from aiflash.profile import load_profile

from .conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import published_scorer as published  # noqa: E402


def means_for_global_score(global_score: float, lpips: float, delta_e: float) -> dict[str, float]:
    """Metric means whose GlobalScore is ``global_score`` (equal normalised PSNR and SSIM)."""
    s = global_score ** (1 / 1.2)
    return {"PSNR_bg": 15.0 + 23.0 * s, "SSIM_global": 0.60 + 0.39 * s,
            "LPIPS_person": lpips, "DeltaE_person": delta_e}


def test_published_phase2_row_nunucccb():
    breakdown = compute_score(means_for_global_score(0.784, 0.0266, 7.19), load_profile())
    assert breakdown.global_score == pytest.approx(0.784, abs=1e-12)
    assert breakdown.score == pytest.approx(86.10, abs=0.01)
    assert breakdown.score == pytest.approx(86.0964, abs=1e-4)


def test_sensitivities_quoted_in_the_spec():
    profile = load_profile()
    base = compute_score(means_for_global_score(0.784, 0.0266, 7.19), profile).score
    assert compute_score(means_for_global_score(0.784, 0.0276, 7.19), profile).score - base == \
        pytest.approx(-0.17, abs=0.01)
    assert compute_score(means_for_global_score(0.784, 0.0266, 7.29), profile).score - base == \
        pytest.approx(-0.055, abs=0.005)
    assert compute_score(means_for_global_score(0.785, 0.0266, 7.19), profile).score - base == \
        pytest.approx(0.03, abs=0.005)


def test_equals_plain_restatement_on_random_inputs():
    profile, rng = load_profile(), random.Random(20260123)
    for _ in range(2000):
        means = {"PSNR_bg": rng.uniform(5, 50), "SSIM_global": rng.uniform(0.3, 1.0),
                 "DeltaE_person": rng.uniform(0, 60), "LPIPS_person": rng.uniform(-0.01, 0.3)}
        score, global_score = published.total_score(means)
        breakdown = compute_score(means, profile)
        assert breakdown.score == pytest.approx(score, abs=1e-9)
        assert breakdown.global_score == pytest.approx(global_score, abs=1e-9)


def test_extremes_are_30_and_100():
    profile = load_profile()
    worst = {"PSNR_bg": 0.0, "SSIM_global": 0.0, "DeltaE_person": 99.0, "LPIPS_person": 1.0}
    best = {"PSNR_bg": 100.0, "SSIM_global": 1.0, "DeltaE_person": 0.0, "LPIPS_person": 0.0}
    assert compute_score(worst, profile).score == pytest.approx(30.0)
    assert compute_score(best, profile).score == pytest.approx(100.0)
    weights = compute_score(best, profile).weights
    assert sum(weights.values()) == pytest.approx(1.0)


def test_extended_profile_keeps_the_default_constants():
    default, extended = load_profile("default"), load_profile("extended")
    assert extended.extra_metrics == ("CIEDE2000_person",) and default.extra_metrics == ()
    assert (extended.ranges, extended.base_weights, extended.exponent) == \
        (default.ranges, default.base_weights, default.exponent)


def test_profile_from_file_and_its_errors(tmp_path):
    text = (REPO / "aiflash" / "profiles" / "default.yaml").read_text()
    path = tmp_path / "custom.yaml"
    path.write_text(text.replace("exponent: 1.2", "exponent: 1.0"))
    assert load_profile(str(path)).exponent == 1.0
    path.write_text(text.replace("LPIPS_person:  {min: 0.0,  max: 0.15", "LPIPS:  {min: 0.0,  max: 0.15"))
    with pytest.raises(ProfileError, match="metrics must be exactly"):
        load_profile(str(path))
    path.write_text(text.replace("exponent: 1.2\n", ""))
    with pytest.raises(ProfileError, match="malformed profile.*exponent"):
        load_profile(str(path))
    with pytest.raises(ProfileError, match="unknown profile 'nope'"):
        load_profile("nope")
