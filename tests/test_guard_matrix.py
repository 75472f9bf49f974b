"""The whole guard (audit, content check, resolution probe) on the corpora, through the real ingestion
program on the 1K sample inputs: what each honest design and each cheat family ends as.

Honest: the learned designs of tests/rescale_corpus/learned (trained a few minutes on CPU), the
hand-made ones of tests/rescale_corpus/honest and the sample submissions. Cheats: the families the
issue lists (scales 0.8 and 0.9, a learned x2 upsampler, rotation with scale, jittered grids, part
of the image only, the probe evasions) with mechanisms the code audit may or may not see, and the
content check's blind spots at 0.9 (a median after, a Fourier resampler); detail pasted back, the
rules' grey zone, is reported for review. The
probe's patterns are secret and fresh per run, as on Codabench, so nothing here depends on a seed.
"""

from __future__ import annotations

import pytest

from .conftest import REPO
from .test_forensics_ingestion import corpus_submission, run_ingestion, verdicts
from .test_ingestion import STEMS, zip_and_unpack

LEARNED = ("esdnet", "unet_ps", "convtranspose", "tiled", "gain_map", "bilateral_grid", "lut3d",
           "denoiser", "unet_bilinear")
HAND_MADE = ("unet", "thumbnail", "fast_guided")
SAMPLES = ("identity", "flash_baseline", "tiny_cnn", "folder_api")

CHEATS = {
    "learned_x2": {"mechanism": "learned_x2", "factor": 2, "after": "none"},
    "scipy_zoom_0.9": {"mechanism": "scipy_ndimage_zoom", "factor": 10 / 9, "after": "none"},
    "scipy_zoom_0.8_noise": {"mechanism": "scipy_ndimage_zoom", "factor": 1.25, "after": "noise"},
    "grid_sample_0.8_sharpen": {"mechanism": "grid_sample", "factor": 1.25, "after": "sharpen"},
    "rotate_scale_x2": {"mechanism": "rotate_scale", "factor": 2, "after": "none"},
    "jittered_grid_x2": {"mechanism": "jittered_grid", "factor": 2, "after": "jpeg"},
    "background_only_x2": {"mechanism": "scipy_ndimage_zoom", "factor": 2, "after": "none",
                           "region": "background"},
    "person_only_x2": {"mechanism": "scipy_ndimage_zoom", "factor": 2, "after": "none", "region": "person"},
    "cv2_0.9_median": {"mechanism": "cv2_resize", "factor": 10 / 9, "after": "median"},
    "fourier_0.9": {"mechanism": "scipy_signal_resample", "factor": 10 / 9, "after": "none"},
    "near_duplicate": {"mechanism": "numpy_stride_repeat", "factor": 2, "after": "noise",
                       "evasion": "near_duplicate"},
    "cached": {"mechanism": "scipy_ndimage_zoom", "factor": 2, "after": "none", "evasion": "cached"},
    "constant": {"mechanism": "scipy_ndimage_zoom", "factor": 2, "after": "none", "evasion": "constant"},
}


def _honest_program(root, name):
    work = root / name
    work.mkdir()
    if name in SAMPLES:
        return work, zip_and_unpack(REPO / "sample_submissions" / name, work / "zip")
    source = "learned" if name in LEARNED else "honest"
    return work, corpus_submission(work, source, {"kind": name})


def test_honest_designs_are_never_rejected_and_at_most_one_is_flagged(tmp_path):
    """No honest design is rejected; at most one has any image flagged by the content check or the
    probe (the code audit flags enlarged operators, gain_map's and fast_guided's, for review by
    design: counted apart); the sample models stay clean."""
    flagged, audit_flagged = {}, []
    for name in LEARNED + HAND_MADE + SAMPLES:
        work, program = _honest_program(tmp_path, name)
        rec = run_ingestion(work, program, STEMS)
        got = verdicts(rec)
        assert "rejected" not in got.values(), (name, rec["images"])
        assert all(e["status"] == "ok" for e in rec["images"]), name
        assert rec["probe"]["verdict"] in ("clean", "flagged"), (name, rec["probe"])
        by_checks = [e["image"] for e in rec["images"]
                     if e["content_verdict"] == "flagged" or e["probe_verdict"] == "flagged"]
        if by_checks:
            flagged[name] = (by_checks, rec["probe"]["reasons"],
                             [r for e in rec["images"] for r in e["reasons"]][:3])
        if any(e["audit_verdict"] == "flagged" for e in rec["images"]):
            audit_flagged.append(name)
        if name in ("identity", "flash_baseline"):
            assert set(got.values()) == {"clean"}, (name, rec["images"])
    assert len(flagged) <= 1, flagged
    assert set(audit_flagged) <= {"gain_map", "fast_guided"}, audit_flagged


@pytest.mark.parametrize("family", sorted(CHEATS))
def test_every_cheat_family_is_flagged_or_rejected_on_every_image(tmp_path, family):
    config = CHEATS[family]
    rec = run_ingestion(tmp_path, corpus_submission(tmp_path, "cheat", config), STEMS)
    got = verdicts(rec)
    assert set(got) == set(STEMS)
    assert set(got.values()) <= {"flagged", "rejected"}, (family, rec["probe"], rec["images"])
    # in code phases the probe alone decides every family, whatever the audit and the content check see
    assert rec["probe"]["verdict"] == "flagged", (family, rec["probe"])
    assert all(e["probe_verdict"] == "flagged" for e in rec["images"]), family


def test_detail_pasted_back_is_reported_for_review_not_decided(tmp_path):
    """``up(f(down(x))) + (x - up(down(x)))``, the rules' grey zone: the input's own detail reaches
    the output, so the probe measures a response (it is not what the probe decides); the audit
    reports the enlargement for review, and nothing is rejected: the organisers judge."""
    config = {"mechanism": "cv2_resize", "factor": 2, "after": "none", "paste_detail": True}
    rec = run_ingestion(tmp_path, corpus_submission(tmp_path, "cheat", config), STEMS)
    assert set(verdicts(rec).values()) == {"flagged"}, rec["images"]
    assert all(e["audit_verdict"] == "flagged" for e in rec["images"]), rec["images"]
    assert rec["probe"]["response"] > 0.1, rec["probe"]
