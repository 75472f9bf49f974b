"""The content check of the no-rescale guard (aiflash.forensics), called on arrays.

Real images only: the 1K sample inputs (JPEG, as participants get them), their ground truth, and
scikit-image photographs at native size. The cheats are the corpus submission's own functions
(tests/rescale_corpus/cheat/model.py), so what is screened here is what the ingestion runs.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml

from aiflash.errors import ProfileError
from aiflash.forensics import (
    CLEAN,
    FLAGGED,
    REJECTED,
    ForensicsSettings,
    hf_coherence,
    luminance,
    periodicity,
    screen,
    worst_verdict,
)
from aiflash.forensics_calibration import calibrate, honest_outputs, low_light_capture, write_settings
from aiflash.profile import load_profile

from .conftest import REPO, SAMPLE

CORPUS = REPO / "tests" / "rescale_corpus"
STEMS = ["0001", "0002", "0003", "0004"]
FACTORS = (1.5, 2, 4)
AFTER = ("none", "noise", "sharpen", "jpeg")


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHEAT = load_module(CORPUS / "cheat" / "model.py", "corpus_cheat")
HONEST = load_module(CORPUS / "honest" / "model.py", "corpus_honest")


def rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def sample():
    return {s: (rgb(SAMPLE / "input" / f"{s}.jpg"), rgb(SAMPLE / "gt" / f"{s}.png"),
                cv2.imread(str(SAMPLE / "mask_personmask" / f"{s}.png"), cv2.IMREAD_GRAYSCALE) >= 128)
            for s in STEMS}


@pytest.fixture(scope="module")
def settings():
    return load_profile().forensics


def test_worst_verdict_orders_clean_flagged_rejected():
    assert worst_verdict() == CLEAN
    assert worst_verdict(CLEAN, FLAGGED) == FLAGGED
    assert worst_verdict(REJECTED, FLAGGED, CLEAN) == REJECTED


def test_profile_carries_the_calibrated_settings_and_refuses_unknown_measures(tmp_path):
    shipped = load_profile().forensics
    assert shipped == load_profile("extended").forensics  # extended inherits the section
    assert shipped.voting == ("periodicity", "spectral_cliff")
    assert "honest outputs flagged" in shipped.false_flag_rate
    assert ForensicsSettings.from_mapping(shipped.as_record()) == shipped
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: default\nname: bad\nforensics: {voting: [sharpness]}\n")
    with pytest.raises(ProfileError, match="bad.yaml.*unknown forensics measures"):
        load_profile(str(bad))


def test_sample_gt_input_and_sample_results_are_clean(sample, settings):
    for stem, (low, gt, person) in sample.items():
        results = rgb(SAMPLE / "results" / f"{stem}.png")
        for name, output in (("gt", gt), ("input", low), ("results", results)):
            result = screen(output, low, person, settings)
            assert result.verdict == CLEAN, (stem, name, result)
            assert set(result.measures) == {"periodicity", "spectral_cliff", "hf_coherence"}
            assert not result.reasons


def test_identity_scores_zero_periodicity_and_full_coherence(sample):
    low = luminance(sample["0001"][0])
    assert periodicity(low, low) == 0.0
    assert hf_coherence(low, low) == pytest.approx(1.0)


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (63, 200), (64, 64), (65, 129), (200, 63)])
def test_small_and_odd_sizes_never_raise(shape, settings):
    rng = np.random.default_rng(0)
    output, source = (rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(2))
    result = screen(output, source, None, settings)
    assert result.verdict == CLEAN
    assert all(np.isfinite(v) for v in result.measures.values())
    assert bool(result.measures) == (min(shape) >= 64)


def test_a_different_size_is_flagged_with_a_reason(sample, settings):
    low = sample["0001"][0]
    result = screen(low[:-2], low, None, settings)
    assert result.verdict == FLAGGED and "differs from the input" in result.reasons[0]


@pytest.mark.parametrize("mechanism", sorted(CHEAT.MECHANISMS))
def test_every_corpus_cheat_is_flagged_at_every_factor(mechanism, sample, settings):
    """Each mechanism at 1.5x, 2x, 4x, with a different after-effect each time (noise, sharpening,
    JPEG after the enlargement), on a 1K sample input."""
    for index, factor in enumerate(FACTORS):
        if mechanism in CHEAT.INTEGER_ONLY and factor == 1.5:
            continue
        stem = STEMS[(index + len(mechanism)) % 4]
        low, _, person = sample[stem]
        after = AFTER[(index + len(mechanism)) % 4]
        result = screen(CHEAT.cheat(low, mechanism, factor, after), low, person, settings)
        assert result.verdict == FLAGGED, (mechanism, factor, after, stem, result.measures)
        assert result.reasons and all("threshold" in reason for reason in result.reasons)


@pytest.mark.parametrize("kind", sorted(HONEST.KINDS))
def test_honest_corpus_models_are_clean(kind, sample, settings):
    for stem in ("0001", "0002"):
        low, _, person = sample[stem]
        result = screen(HONEST.honest(low, kind, person), low, person, settings)
        assert result.verdict == CLEAN, (kind, stem, result.measures)


def test_flash_baseline_and_tiny_cnn_sample_submissions_are_clean(sample, settings):
    baseline = load_module(REPO / "sample_submissions" / "flash_baseline" / "model.py", "flash_baseline")
    tiny = load_module(REPO / "sample_submissions" / "tiny_cnn" / "model.py", "tiny_cnn")
    models = {"flash_baseline": baseline.Model("", "cpu"),
              "tiny_cnn": tiny.Model(str(REPO / "sample_submissions" / "tiny_cnn"), "cpu")}
    low, _, person = sample["0003"]
    for name, model in models.items():
        import torch

        with torch.no_grad():
            out = np.asarray(model.restore(low, person))
        if out.dtype != np.uint8:
            out = np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)
        assert screen(out, low, person, settings).verdict == CLEAN, name


def test_noise_added_after_a_round_trip_does_not_restore_coherence(sample):
    low = sample["0002"][0]
    cheat = CHEAT.cheat(low, "cv2_resize", 2, "none")
    noisy = CHEAT.after_effect(cheat, "noise")
    plain = hf_coherence(luminance(cheat), luminance(low))
    assert plain < 0.2 and hf_coherence(luminance(noisy), luminance(low)) < plain + 0.05
    assert hf_coherence(luminance(HONEST.honest(low, "thumbnail")), luminance(low)) > 0.5


@pytest.mark.parametrize("photo", ["astronaut", "coffee", "hubble_deep_field"])
def test_natural_photos_honest_operators_clean_and_a_2x_round_trip_flagged(photo, settings):
    import skimage.data

    capture = cv2.imdecode(np.frombuffer(low_light_capture(getattr(skimage.data, photo)(),
                                                           np.random.default_rng(1)), np.uint8),
                           cv2.IMREAD_COLOR)[..., ::-1].copy()
    for name, output in honest_outputs(capture, np.random.default_rng(2)).items():
        assert screen(output, capture, None, settings).verdict == CLEAN, (photo, name)
    good = honest_outputs(capture, np.random.default_rng(2))["nl_means"]
    height, width = good.shape[:2]
    small = cv2.resize(good, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    cheat = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    assert screen(cheat, capture, None, settings).verdict == FLAGGED


def test_calibrate_suggests_thresholds_and_writes_a_loadable_profile(tmp_path, sample):
    (tmp_path / "input").mkdir()
    for stem in ("0001", "0004"):
        (tmp_path / "input" / f"{stem}.jpg").write_bytes((SAMPLE / "input" / f"{stem}.jpg").read_bytes())
    outputs = [SAMPLE / "gt", SAMPLE / "results"]
    result = calibrate(tmp_path / "input", outputs)
    assert len(result.names) == 4 and result.false_flags == 0
    assert result.suggested.periodicity_max >= max(result.values["periodicity"]) + 0.03
    assert "0/4 honest outputs flagged" in result.suggested.false_flag_rate
    profile = tmp_path / "strict.yaml"
    write_settings(profile, result.suggested)
    loaded = load_profile(str(profile))
    assert loaded.forensics == result.suggested and loaded.ranges == load_profile().ranges
    assert yaml.safe_load(profile.read_text())["extends"] == "default"


def test_calibrate_command_errors_name_the_folder(tmp_path):
    run = subprocess.run([sys.executable, "-m", "aiflash", "forensics", "calibrate", "--inputs",
                          str(tmp_path), str(SAMPLE / "gt")], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path}")


def test_calibration_on_the_natural_photo_set_prints_the_shipped_thresholds():
    """Must-show: the shipped defaults are what the command prints on the natural-photo set."""
    run = subprocess.run([sys.executable, "-m", "aiflash", "forensics", "calibrate", "--natural-photos"],
                         capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stderr
    shipped = load_profile().forensics
    assert f"periodicity_max: {shipped.periodicity_max:.2f}" in run.stdout
    assert f"spectral_cliff_max: {shipped.spectral_cliff_max:.2f}" in run.stdout
    assert f"hf_coherence_min: {shipped.hf_coherence_min:.2f}" in run.stdout
    assert f"false-flag rate: {shipped.false_flag_rate}" in run.stdout
