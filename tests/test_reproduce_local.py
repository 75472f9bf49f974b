"""End to end with the local runner: three sample teams (a good one, the flash baseline, the cheat)
through the real ingestion and scoring programs on the sample data, then the report against an
online leaderboard with a planted discrepancy. The second run must reuse the first (resume)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from aiflash.cli import main

from .conftest import REPO, SAMPLE
from .test_bundle_helpers import built_bundle

SAMPLES = REPO / "sample_submissions"
PLANTED = 2.0  # points the online leaderboard claims above the flash baseline's reproduced Score


def _zip(folder: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                zf.write(path, path.relative_to(folder).as_posix())


@pytest.fixture(scope="module")
def reproduction(tmp_path_factory):
    root = tmp_path_factory.mktemp("reproduction")
    submissions = root / "submissions"
    submissions.mkdir()
    _zip(SAMPLES / "identity", submissions / "good-identity.zip")
    shutil.copytree(SAMPLES / "flash_baseline", submissions / "flash-baseline",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _zip(SAMPLES / "cheating_rescale", submissions / "cheater.zip")
    out = root / "out"
    command = ["reproduce", "--runner", "local", "--gpus", "none", "--submissions", str(submissions),
               "--data", str(SAMPLE), "--output-dir", str(out), "--bundle", str(built_bundle())]
    first = main(command)
    records = {team: json.loads((out / "teams" / team / "result.json").read_text())
               for team in ("good-identity", "flash-baseline", "cheater")}
    online = root / "online.csv"
    with online.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Rank", "Team", "Score"])
        writer.writerow([1, "flash-baseline", records["flash-baseline"]["scores"]["Score"] + PLANTED])
        writer.writerow([2, "Good-Identity", records["good-identity"]["scores"]["Score"] - 0.1])
        writer.writerow([3, "cheater", 75.0])
        writer.writerow([4, "ghost-team", 50.0])
    mtimes = {team: (out / "teams" / team / "result.json").stat().st_mtime_ns for team in records}
    second = main(command + ["--online", str(online), "--tolerance", "0.5"])
    report = json.loads((out / "reproduction.json").read_text())
    return {"first": first, "second": second, "out": out, "records": records, "mtimes": mtimes,
            "rows": {row["team"]: row for row in report["teams"]}, "report": report}


def test_runs_complete_and_resume(reproduction):
    assert reproduction["first"] == 0 and reproduction["second"] == 0
    out = reproduction["out"]
    for team, mtime in reproduction["mtimes"].items():  # the second run recomputed nothing
        assert (out / "teams" / team / "result.json").stat().st_mtime_ns == mtime
    assert reproduction["report"]["meta"]["resumed_teams"] == "cheater, flash-baseline, good-identity"


def test_good_teams_are_reproduced(reproduction):
    records = reproduction["records"]
    for team in ("good-identity", "flash-baseline"):
        record = records[team]
        assert record["status"] == "ok", record["reason"]
        assert set(record["scores"]) >= {"Score", "LPIPS_person", "DeltaE_person", "PSNR_bg",
                                         "SSIM_global", "GlobalScore"}
        assert record["images"] == 4 and record["images_failed"] == 0
        assert record["seconds_per_image"] is not None and record["seconds_per_image"] >= 0
        assert "cpu" in record["device"].lower()
    assert records["flash-baseline"]["scores"]["Score"] > records["good-identity"]["scores"]["Score"]


def test_report_flags_the_cheat_and_the_planted_discrepancy(reproduction):
    rows = reproduction["rows"]
    assert rows["good-identity"]["flag"] == "" and rows["good-identity"]["discrepancy"] is False
    assert rows["good-identity"]["difference"] == pytest.approx(0.1, abs=1e-6)
    flash = rows["flash-baseline"]
    assert flash["flag"] == "DISCREPANCY" and flash["discrepancy"] is True
    assert flash["difference"] == pytest.approx(-PLANTED, abs=1e-6)
    cheat = rows["cheater"]
    assert cheat["status"] == "failed" and cheat["flag"] == "FAILED" and cheat["Score"] is None
    assert cheat["online_Score"] == 75.0
    assert "resampl" in cheat["reason"].lower() or "rescal" in cheat["reason"].lower(), cheat["reason"]
    assert cheat["guard_findings"], "the audit's findings must reach the report"
    assert "model.py" in cheat["guard_findings"]  # the caller's file:line
    assert rows["ghost-team"]["flag"] == "NO SUBMISSION"
    html = (reproduction["out"] / "reproduction.html").read_text()
    for text in ("DISCREPANCY", "FAILED", "NO SUBMISSION", "flash-baseline", "cheater"):
        assert text in html
    header = (reproduction["out"] / "reproduction.csv").read_text().splitlines()[0]
    assert header.startswith("team,status,flag,Score,online_Score,difference")


def test_local_layout_mirrors_the_container_without_ground_truth(reproduction):
    team = reproduction["out"] / "teams" / "good-identity"
    tree = team / ".run" / "ingestion" / "app"
    gt = (SAMPLE / "gt").resolve()
    links = {}
    for dirpath, dirnames, filenames in os.walk(tree):  # does not follow the links
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                links["/" + path.relative_to(tree.parent).as_posix()] = path.resolve()
    # The bundle's own ingestion program (with its aiflash copy), as Codabench mounts it.
    (programs,) = (reproduction["out"] / "programs").iterdir()
    assert (programs / "ingestion_program" / "aiflash" / "__init__.py").is_file()
    assert reproduction["report"]["meta"]["bundle_sha256"].startswith(programs.name)
    assert links == {
        "/app/program": (programs / "ingestion_program").resolve(),
        "/app/ingested_program": (team / "submission").resolve(),
        "/app/input_data/input": (SAMPLE / "input").resolve(),
        "/app/input_data/mask_personmask": (SAMPLE / "mask_personmask").resolve(),
        "/app/output": (team / "predictions").resolve(),
    }
    assert not any(target == gt or gt.is_relative_to(target) for target in links.values())
    first_line = (team / "logs" / "ingestion.log").read_text().splitlines()[0]
    # The bundle's command (its --time-budget follows the queue, see aiflash.bundle.build), then the mounts.
    assert first_line.startswith(f"$ {sys.executable} ingestion.py --time-budget ")
    assert f" --input-dir {tree}/input_data" in first_line
    assert sorted(p.name for p in (team / "predictions").glob("*.png")) == [
        "0001.png", "0002.png", "0003.png", "0004.png"]
