"""The ranking statistics on the leaderboard page in a real browser (headless Chromium, no
network): Score intervals, the tie mark between two planted near-equal teams, the agreement
section, the plots; screenshots saved."""

from __future__ import annotations

from aiflash.cli import main

from .browser import chromium, save_screenshot
from .stats_data import planted_per_image, team_names, write_phase, write_reproduction, write_votes

TEAMS = team_names(10)


def build(root):
    per_image = planted_per_image(TEAMS, 80, seed=4, near_equal=("Dusk", "Ember"))
    phase2, folder = write_phase(root / "phase2", per_image)
    reproduction = write_reproduction(root / "repro", per_image)
    key, votes = write_votes(root, TEAMS, 40, 5, {t: 1.0 - 0.08 * i for i, t in enumerate(TEAMS)},
                             seed=5, contrarian="E2")
    out = root / "site"
    assert main(["leaderboard", "--phase2", str(phase2), "--per-image", f"phase2={folder}",
                 "--reproduction", str(reproduction), "--votes", str(votes), "--key", str(key),
                 "--output-dir", str(out)]) == 0
    return out / "index.html"


def test_page_shows_intervals_ties_agreement_and_plots(tmp_path):
    index = build(tmp_path)
    with chromium() as browser:
        page = browser.new_page(1280, 900)
        page.goto(index.as_uri())
        rows = page.locator("#t-phase2 tbody tr")
        assert rows.count() == len(TEAMS)
        intervals = page.locator("#t-phase2 td.num .ci")
        assert intervals.count() == len(TEAMS) and intervals.first.is_visible()
        assert intervals.first.inner_text().startswith("[")

        # The planted pair: adjacent, the upper one marked tied with the next; no other tie.
        teams = rows.evaluate_all("rs => rs.map(r => r.cells[1].innerText.trim())")
        assert teams.index("Ember") == teams.index("Dusk") + 1
        tie = page.locator("#t-phase2 tr.tied-next")
        assert tie.count() == 1 and "Dusk" in tie.inner_text()
        mark = tie.locator(".pill.tie")
        assert mark.is_visible() and "≈ tied with Ember" in mark.inner_text()
        assert page.locator("#t-phase2 .pill.tie").count() == 1
        colour = mark.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour not in ("rgba(0, 0, 0, 0)", "transparent"), "the tie mark must stand out"

        confidence = page.locator("#phase2-confidence")
        assert confidence.is_visible() and "Rank interval" in confidence.inner_text()
        plot = confidence.locator("svg.interval-plot")
        assert plot.is_visible() and plot.bounding_box()["width"] > 300
        assert plot.locator(".tie-bracket").count() == 1

        agreement = page.locator("#agreement")
        agreement.scroll_into_view_if_needed()
        assert agreement.is_visible()
        text = agreement.inner_text()
        assert "Kendall's W" in text and "Fleiss' κ" in text and "Outlier expert(s): E2" in text
        assert page.locator("#weights").is_visible() and page.locator("#t-final .ci").count() == len(TEAMS)
        assert page.locator("#t-final th", has_text="Rank interval").count() == 1
        assert page.locator("#t-experts .ci").count() == len(TEAMS)
        scatter = page.locator("#objective-vs-subjective svg.scatter-plot")
        assert scatter.count() >= 7  # six measures vs the experts + two trade-off plots
        assert page.locator("svg.tradeoff").first.is_visible()
        assert page.locator("svg.tradeoff").first.locator("circle").count() == len(TEAMS)

        shot = save_screenshot(page, "leaderboard-stats.png", tmp_path / "leaderboard-stats.png")
        assert shot.stat().st_size > 50_000

        phone = browser.new_page(390, 844)
        phone.goto(index.as_uri())
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        save_screenshot(phone, "leaderboard-stats-phone.png", tmp_path / "leaderboard-stats-phone.png")
        assert browser.network == []
