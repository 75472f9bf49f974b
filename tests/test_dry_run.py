"""`aiflash dry-run`: a participant's check before uploading, on the data they have; exit 0 only
when the zip is ready."""

from __future__ import annotations

import json
import shutil
import zipfile

import cv2
import yaml

from .conftest import REPO, SAMPLE
from .test_bundle_helpers import (
    run_cli,
    sample_code_zip,
    sample_code_zip_without_metadata,
    sample_results,
    unpacked_bundle,
    zip_tree,
)


def kit_manifest(number: int):
    return unpacked_bundle() / "starting_kit" / "manifests" / f"phase{number}.json"


def inputs_only(tmp_path):
    """What a participant has of a phase without ground truth: inputs and person masks."""
    data = tmp_path / "inputs"
    for folder in ("input", "mask_personmask"):
        shutil.copytree(SAMPLE / folder, data / folder)
    return data


def test_good_result_zip_is_ready_and_scored(tmp_path):
    result = run_cli("dry-run", zip_tree(sample_results(), tmp_path / "good.zip"), "--phase", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Status: Finished" in result.stdout and "Leaderboard row:" in result.stdout
    assert "PROBLEM" not in result.stdout
    assert result.stdout.strip().endswith("Verdict: ready to upload.")


def test_bad_result_zip_names_every_problem(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(sample_results(), results)
    (results / "0004.png").unlink()
    image = cv2.imread(str(results / "0002.png"))
    height, width = image.shape[:2]
    cv2.imwrite(str(results / "0002.png"), cv2.resize(image, (width // 2, height // 2)))
    submission = zip_tree(results, tmp_path / "bad.zip", extra={"metadata": b"description: mine\n"})
    result = run_cli("dry-run", submission, "--phase", "2")
    assert result.returncode == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith("PROBLEM: ")]
    assert any("missing" in p and "0004" in p for p in problems), problems
    resized = f"0002.png: {width // 2}x{height // 2} but its input is {width}x{height}"
    assert any(resized in p for p in problems), problems
    assert "PROBLEM: remove metadata from the zip root: " in problems[0]
    assert "Verdict: 3 problem(s) to fix before uploading." in result.stdout


def test_code_submission_with_runtime_extrapolated_to_the_phase(tmp_path):
    result = run_cli("dry-run", sample_code_zip("flash_baseline"), "--phase", "3",
                     "--data", inputs_only(tmp_path), "--manifest", kit_manifest(3))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ingestion: ran `python3 ingestion.py` -> exit 0" in result.stdout
    runtime = next(line for line in result.stdout.splitlines() if line.startswith("runtime: "))
    assert "for the phase's 4 images" in runtime
    assert "Verdict: ready to upload." in result.stdout


def test_result_zip_with_metadata_names_the_file_to_remove(tmp_path):
    submission = zip_tree(sample_results(), tmp_path / "results.zip", extra={"metadata.yaml": b"x: 1\n"})
    result = run_cli("dry-run", submission, "--phase", "2")
    assert result.returncode == 1
    (line,) = [line for line in result.stdout.splitlines() if "remove" in line]
    assert line.startswith("PROBLEM: remove metadata.yaml from the zip root: ")
    assert "Metadata file not found" in line
    # ... and the simulation shows the worker's outcome.
    assert ("Status: Failed: Metadata file not found (prediction job), then Bad or empty zip file "
            "(scoring job)") in result.stdout


def test_code_zip_without_metadata_warns_and_samples_ship_one(tmp_path):
    bare = sample_code_zip_without_metadata("identity", tmp_path / "bare.zip")
    data = inputs_only(tmp_path)
    result = run_cli("dry-run", bare, "--phase", "3", "--data", data)
    assert result.returncode == 0, result.stdout + result.stderr  # accepted: a warning, not a problem
    (warning,) = [line for line in result.stdout.splitlines() if line.startswith("warning: ")]
    assert "no metadata file at the zip root" in warning and "weights included" in warning
    assert "description:" in warning
    sample = run_cli("dry-run", sample_code_zip("identity"), "--phase", "3", "--data", data)
    assert sample.returncode == 0 and "warning: " not in sample.stdout


def test_samples_and_kit_ship_a_metadata_file_without_command():
    for folder in sorted((REPO / "sample_submissions").iterdir()):
        metadata = yaml.safe_load((folder / "metadata").read_text())
        assert set(metadata) == {"description"} and metadata["description"].strip(), folder
    kit = sorted((unpacked_bundle() / "starting_kit" / "sample_submissions").glob("*.zip"))
    assert len(kit) == 5
    for archive in kit:
        with zipfile.ZipFile(archive) as opened:
            assert set(yaml.safe_load(opened.read("metadata"))) == {"description"}, archive


def test_too_slow_for_the_phase_is_a_problem(tmp_path):
    manifest = json.loads(kit_manifest(3).read_text())
    manifest["count"] = 1_000_000
    (tmp_path / "phase3.json").write_text(json.dumps(manifest))
    result = run_cli("dry-run", sample_code_zip("identity"), "--phase", "3", "--data", inputs_only(tmp_path),
                     "--manifest", tmp_path / "phase3.json")
    assert result.returncode == 1
    assert any(line.startswith("PROBLEM: runtime: ") and "1000000 images" in line
               for line in result.stdout.splitlines()), result.stdout


def test_wrong_kind_for_the_phase(tmp_path):
    results = zip_tree(sample_results(), tmp_path / "results.zip")
    as_code = run_cli("dry-run", results, "--phase", "3", "--data", inputs_only(tmp_path))
    assert as_code.returncode == 1 and "PROBLEM: no model.py in the zip" in as_code.stdout
    as_results = run_cli("dry-run", sample_code_zip("identity"), "--phase", "2")
    assert as_results.returncode == 1 and "this phase takes result images" in as_results.stdout


def test_validation_inputs_without_ground_truth(tmp_path):
    """Phase 2 as a participant has it: the validation inputs and the kit's manifest, no gt/."""
    data = inputs_only(tmp_path)
    submission = zip_tree(sample_results(), tmp_path / "results.zip", prefix="results/")
    result = run_cli("dry-run", submission, "--phase", "2", "--data", data, "--manifest", kit_manifest(2))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(no gt/: checks and model run only, no Score)" in result.stdout
    assert "Scoring job: not run" in result.stdout and "Leaderboard row" not in result.stdout
    assert "results are inside results/" in result.stdout


def test_not_a_zip(tmp_path):
    (tmp_path / "x.zip").write_text("no")
    result = run_cli("dry-run", tmp_path / "x.zip")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "not a valid zip" in line



def test_cheating_model_is_caught_without_ground_truth(tmp_path):
    result = run_cli("dry-run", sample_code_zip("cheating_rescale"), "--phase", "3",
                     "--data", inputs_only(tmp_path))
    assert result.returncode == 1
    problem = next(line for line in result.stdout.splitlines() if line.startswith("PROBLEM: the model run"))
    assert "rescaling detected" in problem
