"""`aiflash codabench-run` end to end on the built bundle: real zips, the real ingestion and scoring
programs as subprocesses, in the worker's job layout."""

from __future__ import annotations

import json
import re
import zipfile

import pytest
import yaml

from .test_bundle_helpers import (
    built_bundle,
    run_cli,
    sample_code_zip,
    sample_code_zip_without_metadata,
    sample_results,
    zip_tree,
)

COLUMNS = ("Score", "LPIPS (person)", "DeltaE (person)", "PSNR (background, dB)", "SSIM (global)",
           "GlobalScore")


def leaderboard(stdout: str) -> dict[str, str]:
    block = stdout.split("Leaderboard row:\n", 1)[1]
    return {title: re.split(r"\s{2,}", line.strip())[1] for line in block.splitlines()
            for title in COLUMNS if line.strip().startswith(title + "  ")}


def codabench_run(submission, phase: int, *extra):
    return run_cli("codabench-run", built_bundle(), submission, "--phase", phase, *extra)


def _plain(tmp_path):
    return zip_tree(sample_results(), tmp_path / "results.zip")


def _wrapped(tmp_path):
    return zip_tree(sample_results(), tmp_path / "wrapped.zip", prefix="my_results/")


def _macos(tmp_path):
    junk = {f"__MACOSX/results/._{p.name}": b"\x00\x05\x16\x07mac" for p in sample_results().iterdir()}
    junk["results/.DS_Store"] = b"\x00\x00\x00\x01Bud1"
    return zip_tree(sample_results(), tmp_path / "macos.zip", prefix="results/", extra=junk)


@pytest.mark.parametrize("make_zip", [_plain, _wrapped, _macos], ids=["plain", "wrapped", "macos"])
def test_phase2_result_zip_finishes_with_all_six_scores(tmp_path, make_zip):
    keep = tmp_path / "jobs"
    result = codabench_run(make_zip(tmp_path), 2, "--keep", keep)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "submission: copied into output" in result.stdout
    assert "ingestion" not in result.stdout  # result phases have no ingestion program
    assert "Status: Finished" in result.stdout
    row = leaderboard(result.stdout)
    assert list(row) == list(COLUMNS)
    assert all(re.fullmatch(r"\d+\.\d+", value) for value in row.values()), row
    assert len(row["SSIM (global)"].split(".")[1]) == 4 and len(row["Score"].split(".")[1]) == 3
    scoring = keep / "run" / "scoring"
    scores = json.loads((scoring / "output" / "scores.json").read_text())
    assert f"{scores['Score']:.3f}" == row["Score"]
    assert (scoring / "output" / "detailed_results.html").is_file()
    if make_zip is _plain:  # the worker's layout, as the scoring program saw it
        prediction = keep / "run" / "prediction"
        assert sorted(p.name for p in (prediction / "output").iterdir()) == [
            "0001.png", "0002.png", "0003.png", "0004.png", "metadata"]
        metadata = yaml.safe_load((prediction / "output" / "metadata").read_text())
        assert metadata["exitCode"] is None and metadata["ingestionExitCode"] is None
        assert sorted(p.name for p in (scoring / "input").iterdir()) == ["ref", "res"]
        # the public inputs sit beside gt/ so the scorer screens results for rescaling (forensics)
        assert sorted(p.name for p in (scoring / "input" / "ref").iterdir()) == ["gt", "input",
                                                                                 "mask_personmask"]
        assert (scoring / "shared").is_dir() and (scoring / "program" / "aiflash" / "__init__.py").is_file()


def test_result_zip_missing_an_image_fails_naming_it(tmp_path):
    submission = zip_tree(sample_results(), tmp_path / "partial.zip", skip=("0003.png",))
    result = codabench_run(submission, 2)
    assert result.returncode == 1
    status = next(line for line in result.stdout.splitlines() if line.startswith("Status:"))
    assert status.startswith("Status: Failed: scoring program exited with code")
    assert "missing" in status and "0003" in status


def test_result_zip_with_metadata_ends_as_on_the_real_worker(tmp_path):
    """A result zip with a file named metadata at its root (e.g. a downloaded prediction output
    re-uploaded): nothing is copied, the prediction job fails writing the worker's metadata, and
    the scoring job it had already queued fails on the missing zip. No leaderboard row."""
    submission = zip_tree(sample_results(), tmp_path / "with_metadata.zip",
                          extra={"metadata": b"exitCode: null\ningestionExitCode: null\n"})
    result = codabench_run(submission, 2)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "  submission: skipped: metadata has no command (nothing copied into output)" in lines
    assert any(line.startswith("  then: Metadata file not found") for line in lines)
    assert any(line.startswith("Scoring job: failed: Bad or empty zip file") for line in lines)
    assert lines[-1] == ("Status: Failed: Metadata file not found (prediction job), then Bad or empty zip "
                         "file (scoring job)")
    assert "Leaderboard row" not in result.stdout


def test_code_zip_on_a_result_phase_fails(tmp_path):
    result = codabench_run(sample_code_zip("identity"), 2)
    assert result.returncode == 1 and "Status: Failed" in result.stdout


def test_result_zip_on_the_code_phase_fails(tmp_path):
    # Without a model.py the ingestion program exits 0 untouched and the worker copies the images
    # into the output; the scorer must still refuse them, or hidden-test results could be uploaded.
    result = codabench_run(_plain(tmp_path), 3)
    assert result.returncode == 1
    status = next(line for line in result.stdout.splitlines() if line.startswith("Status:"))
    assert "takes code submissions" in status and "model.py" in status


@pytest.mark.parametrize("name", ["identity", "flash_baseline", "tiny_cnn", "folder_api"])
def test_phase3_code_submission_finishes(name):
    result = codabench_run(sample_code_zip(name), 3)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ingestion: ran `python3 ingestion.py --time-budget 480` -> exit 0" in result.stdout
    assert "Status: Finished" in result.stdout
    assert all(value != "n/a" for value in leaderboard(result.stdout).values())


def test_phase3_code_zip_without_metadata_is_copied_into_the_output(tmp_path):
    bare = sample_code_zip_without_metadata("tiny_cnn", tmp_path / "bare.zip")
    keep = tmp_path / "jobs"
    result = codabench_run(bare, 3, "--keep", keep)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "  submission: copied into output" in result.stdout
    assert "weights included, into the prediction output" in result.stdout
    with zipfile.ZipFile(keep / "run" / "prediction" / "prediction_result.zip") as archive:
        assert {"model.py", "tiny_cnn.pt"} <= set(archive.namelist())  # as the real worker uploads it


def test_phase3_cheating_model_fails_with_the_guard_reason():
    result = codabench_run(sample_code_zip("cheating_rescale"), 3)
    assert result.returncode == 1
    status = next(line for line in result.stdout.splitlines() if line.startswith("Status:"))
    assert status.startswith("Status: Failed: scoring program exited with code")
    assert "failed in the model run" in status
    assert re.search(r"resampl|rescal|resiz", status, re.I), status


def test_refuses_a_zip_that_is_not_a_bundle(tmp_path):
    not_bundle = tmp_path / "not_bundle.zip"
    with zipfile.ZipFile(not_bundle, "w") as archive:
        archive.writestr("bundle/competition.yaml", "version: 2\n")
    result = run_cli("codabench-run", not_bundle, _plain(tmp_path), "--phase", "2")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "zip-root" in line and "competition.yaml" in line
