"""`make bundle` / `aiflash bundle`: the zip Codabench receives, built from a clean checkout."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import yaml

from aiflash.bundle.validate import errors, validate_zip

from .conftest import PYTHON, REPO
from .test_bundle_helpers import BUNDLE_ZIP_NAME, built_bundle, run_cli, unpacked_bundle

SAMPLE_NAMES = {"identity", "flash_baseline", "tiny_cnn", "folder_api", "cheating_rescale"}


def checkout_copy(target: Path) -> Path:
    """What a clone of this working tree holds: tracked and new files git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = REPO / rel
        if source.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)  # keeps mtimes: make sees an installed venv as fresh
    return target


def test_make_bundle_from_a_clean_checkout(tmp_path):
    clone = checkout_copy(tmp_path / "clone")
    (clone / ".venv").symlink_to(REPO / ".venv")  # `make setup` would create it; the test reuses ours
    result = subprocess.run(["make", "-o", ".venv/.installed", "bundle"], cwd=clone, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = clone / "dist" / BUNDLE_ZIP_NAME
    assert errors(validate_zip(bundle, tmp_path / "check")) == []
    # reproducible: the same bytes as the session's build from this working tree
    assert bundle.read_bytes() == built_bundle().read_bytes()


def test_zip_layout():
    with zipfile.ZipFile(built_bundle()) as bundle:
        names = bundle.namelist()
        competition = yaml.safe_load(bundle.read("competition.yaml"))
    assert "competition.yaml" in names  # at the root, exact name
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")
                or any(part.startswith(".") for part in n.split("/"))]
    tops = {n.split("/")[0] for n in names}
    assert tops == {"competition.yaml", "logo.png", "pages", "scoring_program", "ingestion_program", "data",
                    "solutions", "starting_kit", "MANIFEST.json"}
    for task in competition["tasks"]:
        for key in ("scoring_program", "ingestion_program", "input_data", "reference_data"):
            if key in task:
                assert any(n.startswith(task[key]) for n in names), task[key]


def test_programs_carry_the_whole_package_and_run_alone():
    package = {p.relative_to(REPO).as_posix() for p in (REPO / "aiflash").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for program, script in (("scoring_program", "score.py"), ("ingestion_program", "ingestion.py")):
        folder = unpacked_bundle() / program
        shipped = {p.relative_to(folder).as_posix() for p in (folder / "aiflash").rglob("*") if p.is_file()}
        assert shipped == package
        imported = subprocess.run(
            [PYTHON, "-c", "import sys; sys.path.insert(0, '.'); import aiflash; print(aiflash.__file__)"],
            cwd=folder, env=env, capture_output=True, text=True, check=True).stdout.strip()
        assert Path(imported).resolve().is_relative_to(folder.resolve())  # its own copy wins
        helped = subprocess.run([PYTHON, script, "--help"], cwd=folder, env=env, capture_output=True,
                                text=True)
        assert helped.returncode == 0 and "--output-dir" in helped.stdout, helped.stderr


def test_manifest_has_the_sha256_of_every_data_file():
    root = unpacked_bundle()
    manifest = json.loads((root / "MANIFEST.json").read_text())
    data_files = {p.relative_to(root).as_posix() for folder in ("data", "solutions")
                  for p in (root / folder).rglob("*") if p.is_file()}
    assert set(manifest["files"]) == data_files
    for rel, info in manifest["files"].items():
        assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == info["sha256"]
    assert manifest["docker_image"] == yaml.safe_load((REPO / "competition.yaml").read_text())["docker_image"]
    assert [i["stem"] for i in manifest["phases"]["2"]["images"]] == ["0001", "0002", "0003", "0004"]


def test_reference_and_input_data_hold_what_each_job_needs():
    data = unpacked_bundle() / "data"
    def folders(path):
        return sorted(p.name for p in path.iterdir())

    # Result phases' inputs are public: beside gt/ they let the scorer screen results (forensics).
    for phase in ("phase1", "phase2"):
        assert folders(data / phase / "reference_data") == ["gt", "input", "mask_personmask"]
    # The code phase's scorer refuses uploaded result images (no ingestion.json) because of this file.
    assert folders(data / "phase3" / "reference_data") == ["gt", "mask_personmask", "phase.json"]
    rules = data / "phase3" / "reference_data" / "phase.json"
    assert json.loads(rules.read_text()) == {"submissions": "code"}
    assert folders(data / "phase3" / "input_data") == ["input", "mask_personmask"]
    assert folders(data / "phase1" / "dev_data") == ["gt", "input", "mask_personmask"]
    assert not (data / "phase2" / "input_data" / "gt").exists()  # Phase 2's public data has no ground truth


def test_starting_kit_and_solutions():
    root = unpacked_bundle()
    kit = root / "starting_kit"
    assert "aiflash dry-run" in (kit / "README.md").read_text()
    zips = {p.stem for p in (kit / "sample_submissions").glob("*.zip")}
    assert SAMPLE_NAMES <= zips
    for name in zips:
        with zipfile.ZipFile(kit / "sample_submissions" / f"{name}.zip") as archive:
            assert "model.py" in archive.namelist(), name  # at the zip root
    phase2 = json.loads((kit / "manifests" / "phase2.json").read_text())
    assert phase2["submission"] == "results" and phase2["count"] == 4
    assert phase2["images"][0] == {"stem": "0001", "width": phase2["images"][0]["width"],
                                   "height": phase2["images"][0]["height"]}
    results = sorted(p.name for p in (root / "solutions" / "results_phase2").iterdir())
    assert results == ["0001.png", "0002.png", "0003.png", "0004.png"]
    assert (root / "solutions" / "flash_baseline" / "model.py").is_file()


def test_bundle_refuses_listing_every_broken_rule(tmp_path):
    clone = checkout_copy(tmp_path / "clone")
    text = (clone / "competition.yaml").read_text()
    text = text.replace("version: 2\n", "")
    text = text.replace('start: "2026-01-28 00:00:00"', "start: 2026-01-28 06:00:00")
    (clone / "competition.yaml").write_text(text)
    result = run_cli("bundle", "--source", clone, "--output-dir", tmp_path / "dist")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert any("[version]" in line for line in lines)
    assert any("[date]" in line and "stores 2026-01-28 00:00" in line for line in lines)
    assert lines[-1].startswith("error: ") and "2 Codabench rule(s) broken" in lines[-1]
    assert not (tmp_path / "dist" / BUNDLE_ZIP_NAME).exists()
