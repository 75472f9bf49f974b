"""`aiflash data`: an organiser's input/ gt/ mask_personmask/ become a phase's reference_data and
input_data, or are refused with every problem named; a packed phase feeds `aiflash bundle`."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from aiflash.bundle.data import sha256_file

from .synth import make_dataset, write_grey
from .test_bundle_helpers import run_cli

STEMS = ["0001", "0002", "0003", "0010", "1000"]


@pytest.fixture()
def organiser(tmp_path):
    """Released layout: input/, gt/, mask_personmask/ (small synthetic images)."""
    root, results = make_dataset(tmp_path, STEMS, size=(48, 64))
    results.rename(root / "input")
    return root


def test_packs_reference_and_input_data_with_sha256_manifest(organiser, tmp_path):
    out = tmp_path / "phase"
    result = run_cli("data", organiser, "--output", out)
    assert result.returncode == 0, result.stderr
    assert "Packed 5 image(s) (64x48)" in result.stdout
    assert sorted(p.name for p in (out / "reference_data").iterdir()) == ["gt", "mask_personmask"]
    assert sorted(p.name for p in (out / "input_data").iterdir()) == ["input", "mask_personmask"]
    assert not (out / "dev_data").exists()  # ground truth is never packed for participants by default
    manifest = json.loads((out / "manifest.json").read_text())
    assert [i["stem"] for i in manifest["images"]] == STEMS
    assert len(manifest["files"]) == 4 * len(STEMS)
    for rel, info in manifest["files"].items():
        assert sha256_file(out / rel) == info["sha256"]
        assert (out / rel).read_bytes() == (organiser / rel.split("/", 1)[1]).read_bytes()  # bit-exact


def test_mismatched_stems_are_refused(organiser, tmp_path):
    (organiser / "gt" / "0003.png").unlink()
    (organiser / "input" / "0010.png").unlink()
    result = run_cli("data", organiser, "--output", tmp_path / "out")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "gt/ lacks 1 stem(s)" in line and "0003" in line
    assert "input/ lacks 1 stem(s)" in line and "0010" in line
    assert not (tmp_path / "out").exists()


def test_size_mismatch_between_input_gt_and_mask_is_refused(organiser, tmp_path):
    write_grey(organiser / "mask_personmask" / "0002.png", np.full((48, 63), 255, np.uint8))
    result = run_cli("data", organiser, "--output", tmp_path / "out")
    assert result.returncode == 2
    assert "0002: sizes differ" in result.stderr and "mask_personmask 63x48" in result.stderr


def test_unreadable_and_unexpected_files_are_refused(organiser, tmp_path):
    (organiser / "input" / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (organiser / "gt" / "notes.txt").write_text("x")
    result = run_cli("data", organiser, "--output", tmp_path / "out")
    assert result.returncode == 2
    assert "0001.png" in result.stderr and "notes.txt" in result.stderr


def test_public_split_is_seeded_and_ships_a_dev_set(organiser, tmp_path):
    picks = []
    for name in ("a", "b"):
        out = tmp_path / name
        result = run_cli("data", organiser, "--output", out, "--public-split", "2", "--seed", "7")
        assert result.returncode == 0, result.stderr
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["public_split"] == 2 and manifest["seed"] == 7
        picks.append([i["stem"] for i in manifest["images"]])
        assert sorted(p.name for p in (out / "dev_data").iterdir()) == ["gt", "input", "mask_personmask"]
        assert len(list((out / "reference_data" / "gt").iterdir())) == 2
    assert picks[0] == picks[1] and len(picks[0]) == 2
    refused = run_cli("data", organiser, "--output", tmp_path / "c", "--public-split", "9")
    assert refused.returncode == 2 and "between 1 and the 5 images" in refused.stderr


def test_packed_phase_feeds_the_bundle(organiser, tmp_path):
    packed = tmp_path / "final"
    assert run_cli("data", organiser, "--output", packed).returncode == 0
    out = tmp_path / "dist"
    result = run_cli("bundle", "--output-dir", out, "--phase-data", f"3={packed}", "--name", "custom")
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out / "custom.zip") as bundle:
        names = set(bundle.namelist())
        manifest = json.loads(bundle.read("MANIFEST.json"))
        public = json.loads(bundle.read("starting_kit/manifests/phase3.json"))
    assert {f"data/phase3/input_data/input/{s}.png" for s in STEMS} <= names
    assert {f"data/phase3/reference_data/gt/{s}.png" for s in STEMS} <= names
    assert manifest["phases"]["3"]["source"] == "final"
    assert public == {"phase": 3, "name": "Phase 3: Final test", "submission": "code",
                      "execution_time_limit": 600, "count": 5, "sizes": {"64x48": 5}}
    assert "images" not in public  # the hidden test's stems are not published
