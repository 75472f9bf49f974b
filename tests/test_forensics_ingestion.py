"""The rescale corpus through the real programs: ingestion (both guard layers), scoring, codabench-run.

A representative subset of the corpus (tests/rescale_corpus): every cheat family of the issue at
1.5x, 2x and 4x with noise, sharpening or JPEG after the enlargement, and the honest designs. One
ingestion run screens several cheats at once: the cheating model picks its mechanism per image
from a digest of the input pixels, so four images carry four different cheats. The full matrix
(every mechanism x factor x after-effect) is screened on arrays in test_forensics.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from .conftest import REPO, SAMPLE
from .test_bundle_helpers import built_bundle, run_cli
from .test_ingestion import STEMS, ingest, make_input_data, record, score, zip_and_unpack

CORPUS = REPO / "tests" / "rescale_corpus"
BAD = {"flagged", "rejected"}

# (mechanism, factor, after) per image, four images per ingestion run: 16 cheats in 4 runs.
CHEAT_RUNS = [
    [("numpy_stride_repeat", 2, "noise"), ("reshape_mean_kron", 4, "sharpen"),
     ("avgpool_repeat_interleave", 2, "jpeg"), ("maxpool_pixel_shuffle", 4, "noise")],
    [("avgpool_conv_transpose", 2, "sharpen"), ("grid_sample", 1.5, "jpeg"),
     ("aten_upsample", 4, "none"), ("scipy_ndimage_zoom", 1.5, "noise")],
    [("scipy_signal_resample", 2, "noise"), ("pil_transform", 1.5, "sharpen"),
     ("pil_core_resize", 4, "jpeg"), ("skimage_warp", 2, "none")],
    [("cv2_warp_affine", 1.5, "noise"), ("torchscript", 2, "jpeg"),
     ("separable_3d", 4, "sharpen"), ("dummy_channels", 1.5, "none")],
]
HONEST_CORPUS = ("unet", "thumbnail", "fast_guided")
HONEST_SAMPLES = ("identity", "flash_baseline", "tiny_cnn")


def digest(stem: str) -> str:
    """What the cheating model computes from the array it is given (the decoded input)."""
    rgb = cv2.cvtColor(cv2.imread(str(SAMPLE / "input" / f"{stem}.jpg")), cv2.COLOR_BGR2RGB)
    return hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest()


def corpus_submission(tmp_path: Path, kind: str, config: dict) -> Path:
    folder = tmp_path / f"{kind}_src"
    shutil.copytree(CORPUS / kind, folder)
    (folder / "corpus.json").write_text(json.dumps(config))
    return zip_and_unpack(folder, tmp_path / f"{kind}_zip")


def run_ingestion(tmp_path: Path, program: Path, stems: list[str]) -> dict:
    out = tmp_path / "output"
    result = ingest(make_input_data(tmp_path, stems), program, out)
    assert result.returncode == 0, result.stderr[-3000:]
    return record(out)


def verdicts(rec: dict) -> dict[str, str]:
    assert rec["rescale_verdicts"] == {v: sum(e["rescale_verdict"] == v for e in rec["images"])
                                       for v in ("clean", "flagged", "rejected")}
    return {e["image"]: e["rescale_verdict"] for e in rec["images"]}


@pytest.mark.parametrize("run", range(len(CHEAT_RUNS)), ids=lambda i: f"cheats{i}")
def test_every_cheat_image_ends_flagged_or_rejected(tmp_path, run):
    plan = dict(zip(STEMS, CHEAT_RUNS[run], strict=False))
    config = {"images": {digest(stem): {"mechanism": m, "factor": f, "after": a}
                         for stem, (m, f, a) in plan.items()}}
    rec = run_ingestion(tmp_path, corpus_submission(tmp_path, "cheat", config), STEMS)
    got = verdicts(rec)
    assert set(got) == set(STEMS)
    for stem, verdict in got.items():
        entry = next(e for e in rec["images"] if e["image"] == stem)
        assert verdict in BAD, (plan[stem], entry)
        if verdict == "flagged" and entry["status"] == "ok":
            assert entry["content_verdict"] == "flagged" and entry["reasons"], entry


def test_honest_models_are_never_rejected_and_at_most_one_is_flagged(tmp_path):
    stems = ["0001", "0004"]
    flagged_models = []
    for kind in HONEST_CORPUS + HONEST_SAMPLES:
        work = tmp_path / kind
        work.mkdir()
        if kind in HONEST_CORPUS:
            program = corpus_submission(work, "honest", {"kind": kind})
        else:
            program = zip_and_unpack(REPO / "sample_submissions" / kind, work / "zip")
        rec = run_ingestion(work, program, stems)
        got = verdicts(rec)
        assert "rejected" not in got.values(), (kind, rec["images"])
        assert all(e["status"] == "ok" and e["content_verdict"] == "clean" for e in rec["images"]), kind
        if "flagged" in got.values():
            flagged_models.append(kind)
        if kind == "identity":
            assert set(got.values()) == {"clean"}
    assert len(flagged_models) <= 1, flagged_models


def test_scoring_program_screens_results_against_the_sample_inputs(tmp_path):
    """Results for 0001/0002 are the sample results (honest), for 0003/0004 a 2x round trip of them:
    the scores are written, the round trips are flagged in the CSV and in detailed_results.html."""
    results = tmp_path / "res"
    results.mkdir()
    for stem in STEMS:
        good = cv2.imread(str(SAMPLE / "results" / f"{stem}.png"))
        if stem in ("0003", "0004"):
            height, width = good.shape[:2]
            small = cv2.resize(good, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
            good = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(results / f"{stem}.png"), good)
    out = tmp_path / "scores"
    run = score(results, out)
    assert run.returncode == 0, run.stderr
    rows = pd.read_csv(out / "per_image_scores.csv", dtype={"image": str}).set_index("image")
    assert rows["rescale_verdict"].to_dict() == {"0001": "clean", "0002": "clean",
                                                  "0003": "flagged", "0004": "flagged"}
    assert (rows.loc[["0003", "0004"], "periodicity"] > 0.48).all()
    page = (out / "detailed_results.html").read_text()
    assert "Content check (resampling forensics)" in page and "2 clean, 2 flagged" in page
    assert "REVIEW: 2 image(s) flagged by the content check" in page
    assert "A clean image is not proof" in page  # what the passive check cannot see, said where it is read
    assert json.loads((out / "scores.json").read_text())["Score"] > 0


def test_phase2_result_made_by_a_2x_round_trip_is_flagged_and_still_scored(tmp_path):
    """Must-show: via `aiflash codabench-run` on the built bundle, Phase 2's reference data holds
    the public inputs, so the scorer screens the results: flagged, and the run finishes scored."""
    archive = tmp_path / "roundtrip.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for stem in STEMS:
            good = cv2.imread(str(SAMPLE / "results" / f"{stem}.png"))
            height, width = good.shape[:2]
            small = cv2.resize(good, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
            enlarged = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
            png = cv2.imencode(".png", enlarged)[1]
            out.writestr(f"{stem}.png", png.tobytes())
    keep = tmp_path / "jobs"
    result = run_cli("codabench-run", built_bundle(), archive, "--phase", "2", "--keep", keep)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Status: Finished" in result.stdout
    output = keep / "run" / "scoring" / "output"
    assert json.loads((output / "scores.json").read_text())["Score"] > 0
    page = (output / "detailed_results.html").read_text()
    assert "0 clean, 4 flagged" in page and "line in the pixel-difference spectrum" in page


def test_dry_run_shows_the_participant_the_rescaling_verdicts(tmp_path):
    good = tmp_path / "good.zip"
    roundtrip = tmp_path / "roundtrip.zip"
    with zipfile.ZipFile(good, "w") as honest, zipfile.ZipFile(roundtrip, "w") as cheat:
        for stem in STEMS:
            result = cv2.imread(str(SAMPLE / "results" / f"{stem}.png"))
            honest.writestr(f"{stem}.png", cv2.imencode(".png", result)[1].tobytes())
            height, width = result.shape[:2]
            small = cv2.resize(result, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
            enlarged = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
            cheat.writestr(f"{stem}.png", cv2.imencode(".png", enlarged)[1].tobytes())
    clean = run_cli("dry-run", good, "--phase", "2")
    assert clean.returncode == 0 and "Rescaling check: 4 clean, 0 flagged, 0 rejected" in clean.stdout
    flagged = run_cli("dry-run", roundtrip, "--phase", "2")
    assert "Rescaling check: 0 clean, 4 flagged, 0 rejected" in flagged.stdout, flagged.stdout
    assert "organisers' review" in flagged.stdout
