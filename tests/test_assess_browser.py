"""The voting page in a real browser (headless Chromium, offline): an expert picks a Top-3 on every
image, reloads half-way and finds the picks kept, exports the votes (a real download); then
`assess tally` + `assess final` turn the two experts' planted votes into the expected ranking."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from aiflash.cli import main

from .browser import chromium, save_screenshot
from .test_assess import (
    PLANTED_FINAL_ORDER,
    PLANTED_SUBJECTIVE,
    PLANTED_TOP3,
    make_assessment_data,
    plan_e1,
    plan_e2,
    run_prepare,
)

CURRENT = "section.q:not([hidden])"


def pick(page, label: str, rank: int) -> None:
    page.click(f"{CURRENT} .tile[data-label='{label}'] .rk[data-rank='{rank}']")


def ranks_shown(page) -> dict[str, int]:
    tiles = page.locator(f"{CURRENT} .tile.result[data-rank]")
    return {t.get_attribute("data-label"): int(t.get_attribute("data-rank")) for t in tiles.all()}


def vote_through(page, key, plan, start: int, stop: int) -> None:
    """Rank images start..stop-1 (positions in this page's order) as ``plan`` says."""
    for position in range(start, stop):
        assert page.inner_text("#qnum") == f"Image {position + 1} of {len(key.images)}"
        image = page.locator(CURRENT).get_attribute("data-image")
        label_of = {team: label for label, team in key.labels[image].items()}
        teams = plan(image, position)
        if position == 0:  # changes of mind: a rank taken over by another result, a pick undone
            pick(page, label_of[teams[2]], 1)
            pick(page, label_of[teams[1]], 3)
            pick(page, label_of[teams[1]], 3)  # clicking a pressed rank again undoes it
            assert ranks_shown(page) == {label_of[teams[2]]: 1}
        for rank, team in enumerate(teams, start=1):
            pick(page, label_of[team], rank)
        assert ranks_shown(page) == {label_of[t]: r for r, t in enumerate(teams, start=1)}
        if position + 1 < len(key.images):
            page.click("#next")


def test_experts_vote_in_the_browser_and_tally_gives_the_planted_ranking(tmp_path):
    size = (48, 64)  # height, width of the pictures
    root = make_assessment_data(tmp_path, size=size)
    key, pages, key_path = run_prepare(root)
    votes_dir = tmp_path / "votes"
    with chromium(downloads=tmp_path / "downloads") as browser:
        for expert, plan in (("E1", plan_e1), ("E2", plan_e2)):
            page = browser.new_page(1400, 1000)
            downloads: list = []
            page.on("download", lambda d, seen=downloads: seen.append(d))
            page.goto((pages / f"expert-{expert}.html").as_uri())
            assert page.inner_text("#progress-text") == "0 / 4 images ranked"
            assert page.locator(".criteria li").count() == 6
            assert "Facial naturalness" in page.inner_text(".criteria")
            assert page.locator(f"{CURRENT} .tile.input").count() == 1
            assert page.locator(f"{CURRENT} .tile.result").count() == 5
            assert page.locator("section.q").count() == 4

            # Zoom to 100 %: the full-resolution picture, switching with the arrow keys.
            page.click(f"{CURRENT} .tile[data-label='B'] .frame")
            assert page.locator("#zoom").is_visible() and page.inner_text("#ztitle") == "Result B"
            page.wait_for_function("document.getElementById('zimg').naturalWidth > 0")
            assert page.evaluate("document.getElementById('zimg').naturalWidth") == size[1]
            assert page.evaluate("document.getElementById('zimg').getBoundingClientRect().width") == size[1]
            page.keyboard.press("ArrowRight")
            assert page.inner_text("#ztitle") == "Result C"
            page.keyboard.press("Escape")
            assert not page.locator("#zoom").is_visible()

            # Export before every image has its Top-3: refused on the page, nothing downloaded.
            page.click("#export")
            assert "4 image(s) still need a full Top-3" in page.inner_text("#message")
            assert downloads == []

            vote_through(page, key, plan, 0, 2)
            page.reload()
            assert page.inner_text("#progress-text") == "2 / 4 images ranked"
            assert page.inner_text("#qnum") == "Image 3 of 4"  # back where the expert left off
            page.click("#strip button >> nth=0")
            first = key.pages[int(expert[1]) - 1].order[0]
            label_of = {team: label for label, team in key.labels[first].items()}
            assert ranks_shown(page) == {label_of[t]: r for r, t in enumerate(plan(first, 0), start=1)}
            page.click("#strip button >> nth=2")
            vote_through(page, key, plan, 2, 4)
            assert page.inner_text("#progress-text") == "4 / 4 images ranked"
            if expert == "E1":
                save_screenshot(page, "assessment-page.png", tmp_path / "assessment-page.png")

            with page.expect_download() as info:
                page.click("#export")
            download = info.value
            assert download.suggested_filename == f"votes-{expert}.json"
            download.save_as(votes_dir / download.suggested_filename)
            assert "Votes exported" in page.inner_text("#message")
        assert browser.network == []

    exported = json.loads((votes_dir / "votes-E1.json").read_text())
    assert exported["page_id"] == key.pages[0].page_id and len(exported["votes"]) == 4
    out = tmp_path / "assessment"
    assert main(["assess", "tally", str(votes_dir), "--key", str(key_path), "--pages-dir", str(pages),
                 "--output-dir", str(out)]) == 0
    subjective = pd.read_csv(out / "subjective_scores.csv").set_index("team")
    assert subjective["top3"].to_dict() == PLANTED_TOP3
    assert subjective["subjective"].to_dict() == pytest.approx(PLANTED_SUBJECTIVE)
    assert main(["assess", "final", "--objective", str(root / "scores.csv"),
                 "--subjective", str(out / "subjective_scores.csv"), "--output-dir", str(out)]) == 0
    assert pd.read_csv(out / "final_ranking.csv")["team"].tolist() == PLANTED_FINAL_ORDER
