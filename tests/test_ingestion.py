"""The ingestion program run as Codabench runs it, on every sample submission, then scored.

Each sample submission folder is zipped and unzipped (as the platform does) into a temporary
``ingested_program``; ``ingestion_program/ingestion.py`` runs in a fresh process with the three
folders passed as options, cwd = the program folder; ``scoring_program/score.py`` then scores its
output against the sample ground truth. Helpers here are shared with the other ingestion tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO, SAMPLE

SAMPLES = REPO / "sample_submissions"
STEMS = ["0001", "0002", "0003", "0004"]


# -- helpers (imported by test_ingestion_failures.py and test_guard.py) ---------------------------
def zip_and_unpack(folder: Path, workdir: Path) -> Path:
    """Zip the folder's contents and unzip them into ``workdir/ingested_program`` (Codabench)."""
    archive = shutil.make_archive(str(workdir / folder.name), "zip", root_dir=folder)
    target = workdir / "ingested_program"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(target)
    return target


def make_input_data(workdir: Path, stems: list[str] = STEMS) -> Path:
    """A prediction job's /app/input_data: input/ and mask_personmask/ only (no ground truth)."""
    root = workdir / "input_data"
    for sub in ("input", "mask_personmask"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for path in sorted((SAMPLE / sub).iterdir()):
            if path.stem in stems:
                shutil.copy(path, root / sub / path.name)
    return root


def write_submission(workdir: Path, source: str, name: str = "submission") -> Path:
    """A submission folder holding model.py with ``source``, zipped and unpacked."""
    folder = workdir / name
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(textwrap.dedent(source))
    return zip_and_unpack(folder, workdir / f"{name}_zip")


def ingest(input_dir: Path, submission_dir: Path, output_dir: Path, *extra: str, env: dict | None = None):
    """ingestion_program/ingestion.py in a fresh process, cwd = the program folder."""
    return subprocess.run(
        [sys.executable, "ingestion.py", "--input-dir", str(input_dir), "--submission-dir",
         str(submission_dir), "--output-dir", str(output_dir), *extra],
        cwd=REPO / "ingestion_program", capture_output=True, text=True, timeout=300, env=env)


def score(prediction_dir: Path, output_dir: Path):
    """scoring_program/score.py on the ingestion output, against the sample ground truth."""
    return subprocess.run(
        [sys.executable, "score.py", "--reference-dir", str(SAMPLE), "--prediction-dir",
         str(prediction_dir), "--output-dir", str(output_dir)],
        cwd=REPO / "scoring_program", capture_output=True, text=True, timeout=300)


def record(output_dir: Path) -> dict:
    return json.loads((output_dir / "ingestion.json").read_text())


def one_error_line(stderr: str) -> str:
    """The last stderr line, which must be the one-line error (no traceback of ours before it;
    the participant's own output, prefixed ``model|``, may hold theirs)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), stderr
    assert not any("Traceback" in line for line in lines if not line.startswith("model|")), stderr
    return lines[-1]


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def input_data(tmp_path_factory) -> Path:
    return make_input_data(tmp_path_factory.mktemp("input"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, input_data):
    """Every sample submission through ingestion and (if ingestion produced results) scoring."""
    results = {}
    for name in ("identity", "flash_baseline", "tiny_cnn", "folder_api", "cheating_rescale"):
        workdir = tmp_path_factory.mktemp(name)
        submission = zip_and_unpack(SAMPLES / name, workdir)
        output = workdir / "output"
        ingested = ingest(input_data, submission, output)
        scored = score(output, workdir / "scores")
        results[name] = (ingested, output, scored, workdir / "scores")
    return results


# -- tests ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["identity", "flash_baseline", "tiny_cnn", "folder_api"])
def test_sample_submission_runs_through_ingestion_and_scoring(runs, name):
    ingested, output, scored, scores_dir = runs[name]
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    assert sorted(p.name for p in output.iterdir()) == [f"{s}.png" for s in STEMS] + ["ingestion.json"]
    data = record(output)
    assert data["status"] == "complete"
    assert data["images_ok"] == 4 and data["guard_findings"] == []
    assert [e["status"] for e in data["images"]] == ["ok"] * 4
    assert scored.returncode == 0, scored.stderr
    scores = json.loads((scores_dir / "scores.json").read_text())
    assert 30.0 <= scores["Score"] <= 100.0
    page = (scores_dir / "detailed_results.html").read_text()
    assert "Model run (ingestion)" in page and "Resampling audit" in page


def test_flash_baseline_beats_identity(runs):
    identity = json.loads((runs["identity"][3] / "scores.json").read_text())["Score"]
    flash = json.loads((runs["flash_baseline"][3] / "scores.json").read_text())["Score"]
    assert flash > identity + 3.0, (flash, identity)


def test_device_and_timings_are_recorded(runs):
    data = record(runs["tiny_cnn"][1])
    env = data["environment"]
    import torch

    assert env["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert env["device_name"] and env["torch"] == torch.__version__ and env["tf32"] is False
    assert "python" in env and "cuda" in env
    assert data["api"] == "per_image" and data["policy"] == "reject"
    assert data["worker_starts"] == 1 and len(data["load_s"]) == 1
    for entry in data["images"]:
        assert entry["model_s"] > 0 and entry["wall_s"] >= entry["model_s"]
        if env["device"] == "cuda":
            assert entry["peak_gpu_memory_mb"] > 0
        else:
            assert entry["peak_gpu_memory_mb"] is None
    assert data["total_s"] > 0 and data["limits"]["time_budget_s"] > 0
    assert record(runs["folder_api"][1])["api"] == "folder"


def test_results_are_lossless_full_resolution_pngs(runs, input_data):
    import numpy as np

    from aiflash.images import read_rgb

    for stem in STEMS:
        original, _ = read_rgb(next((input_data / "input").glob(f"{stem}.*")))
        restored, note = read_rgb(runs["identity"][1] / f"{stem}.png")
        assert note == "" and np.array_equal(original, restored)


def test_cheating_model_is_rejected_with_its_file_and_line(runs):
    ingested, output, scored, scores_dir = runs["cheating_rescale"]
    assert ingested.returncode != 0
    line = one_error_line(ingested.stderr)
    assert "rescaling detected" in line and "model.py:" in line
    data = record(output)
    assert data["images_ok"] == 0 and not list(output.glob("*.png"))
    source = (SAMPLES / "cheating_rescale" / "model.py").read_text().splitlines()
    calls = {f["caller"] for f in data["guard_findings"]}
    lines = {int(c.split(":")[1]) for c in calls}
    assert {c.split(":")[0] for c in calls} == {"model.py"}
    assert all("F.interpolate" in source[n - 1] for n in lines) and len(lines) == 2
    directions = {(f["image"], f["direction"]) for f in data["guard_findings"]}
    assert directions == {(s, d) for s in STEMS for d in ("downscale", "upscale")}
    for entry in data["images"]:
        assert entry["status"] == "failed" and entry["error"].startswith("rescaling detected: model.py:")
    # Scoring fails clearly, naming an image and the guard's reason; no scores.json.
    assert scored.returncode != 0
    score_line = one_error_line(scored.stderr)
    assert "0001" in score_line and "rescaling detected" in score_line and "model.py:" in score_line
    assert not (scores_dir / "scores.json").exists()


def test_missing_model_py_exits_0_and_leaves_the_output_untouched(tmp_path, input_data):
    submission = tmp_path / "ingested_program"
    submission.mkdir()
    (submission / "0001.png").write_bytes(b"a result submission's file")
    output = tmp_path / "output"
    output.mkdir()
    (output / "0001.png").write_bytes(b"copied by the worker")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in output.iterdir()}
    done = ingest(input_data, submission, output)
    assert done.returncode == 0, done.stderr
    assert "result submission" in done.stdout
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in output.iterdir()} == before


def test_submission_zipped_inside_a_folder_is_found(tmp_path, input_data):
    wrapped = tmp_path / "wrapped"
    shutil.copytree(SAMPLES / "identity", wrapped / "team_identity")
    submission = zip_and_unpack(wrapped, tmp_path / "zip")
    done = ingest(input_data, submission, tmp_path / "out", "--quiet")
    assert done.returncode == 0, done.stderr
    assert record(tmp_path / "out")["images_ok"] == 4


def test_aiflash_ingest_cli_requires_the_three_folders():
    done = subprocess.run([sys.executable, "-m", "aiflash", "ingest"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 2
    assert "--input-dir" in done.stderr and "--submission-dir" in done.stderr


def test_metadata_yaml_runs_ingestion_py():
    import yaml

    meta = yaml.safe_load((REPO / "ingestion_program" / "metadata.yaml").read_text())
    assert meta["command"] == "python3 ingestion.py"
