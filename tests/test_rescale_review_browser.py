"""The organisers' review flag, end to end: two teams reproduced with the local runner through the
real ingestion and scoring programs (an honest one, and one whose enlarged filter coefficients the
audit flags), then the reproduction report and the leaderboard page in a real browser."""

from __future__ import annotations

import csv
import json
import textwrap
import zipfile
from pathlib import Path

import pytest

from aiflash.cli import main

from .browser import chromium, save_screenshot
from .conftest import REPO, SAMPLE
from .test_bundle_helpers import built_bundle
from .test_guard import GUIDED_FILTER

FLAG = "REVIEW: 4 flagged, 0 rejected image(s)"


def _zip(files: dict[str, str], archive: Path) -> None:
    with zipfile.ZipFile(archive, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    root = tmp_path_factory.mktemp("review")
    submissions = root / "submissions"
    submissions.mkdir()
    _zip({"model.py": (REPO / "sample_submissions" / "identity" / "model.py").read_text()},
         submissions / "honest.zip")
    _zip({"model.py": textwrap.dedent(GUIDED_FILTER)}, submissions / "reviewed.zip")
    out = root / "out"
    assert main(["reproduce", "--runner", "local", "--gpus", "none", "--submissions", str(submissions),
                 "--data", str(SAMPLE), "--output-dir", str(out), "--bundle", str(built_bundle())]) == 0
    site = root / "site"
    assert main(["leaderboard", "--reproduction", str(out / "reproduction.csv"),
                 "--output-dir", str(site)]) == 0
    return out, site


def test_report_exports_carry_the_review_flag(reproduced):
    out, site = reproduced
    rows = {r["team"]: r for r in json.loads((out / "reproduction.json").read_text())["teams"]}
    assert rows["reviewed"]["status"] == "ok" and rows["reviewed"]["Score"] is not None  # scored
    assert rows["reviewed"]["review"] == FLAG and rows["reviewed"]["rescale_flagged"] == 4
    assert rows["honest"]["review"] == "" and rows["honest"]["rescale_clean"] == 4
    with (out / "reproduction.csv").open(newline="") as handle:
        assert {r["team"]: r["review"] for r in csv.DictReader(handle)} == {"reviewed": FLAG, "honest": ""}
    team = json.loads((out / "teams" / "reviewed" / "result.json").read_text())
    assert team["rescale_verdicts"] == {"clean": 0, "flagged": 4, "rejected": 0}
    assert any("[flag]" in f and "filter coefficients" in f for f in team["guard_findings"])
    exported = json.loads((site / "phase3.json").read_text())["rows"]
    assert {r["team"]: r["review"] for r in exported} == {"reviewed": FLAG, "honest": ""}


def test_report_and_leaderboard_pages_show_the_review_flag(reproduced, tmp_path):
    out, site = reproduced
    with chromium() as browser:
        page = browser.new_page(1400, 900)
        page.goto((out / "reproduction.html").as_uri())
        assert page.locator(".badge.review").inner_text() == "REVIEW: 1"
        reviewed = page.locator("table.teams tbody tr", has_text="reviewed").first
        assert FLAG in reviewed.inner_text() and "flag" in (reviewed.get_attribute("class") or "")
        honest = page.locator("table.teams tbody tr", has_text="honest").first
        assert "REVIEW" not in honest.inner_text()
        save_screenshot(page, "reproduction-review.png", tmp_path / "reproduction-review.png")

        board = browser.new_page(1280, 900)
        board.goto((site / "index.html").as_uri())
        row = board.locator("#t-phase3 tbody tr", has_text="reviewed")
        pill = row.locator(".pill.review")
        assert pill.is_visible() and pill.inner_text() == "⚑ rescaling review"
        assert FLAG in row.inner_text()
        assert board.locator("#t-phase3 tbody tr", has_text="honest").locator(".pill.review").count() == 0
        assert "1</b> with images flagged for the organisers' rescaling review" in board.content()
        save_screenshot(board, "leaderboard-review.png", tmp_path / "leaderboard-review.png")
        assert browser.network == []
