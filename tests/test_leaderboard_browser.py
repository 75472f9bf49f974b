"""The leaderboard page in a real browser (headless Chromium, no network): tables, sorting,
flagged discrepancies, disqualified teams; screenshots saved for people to look at."""

from __future__ import annotations

import csv

import pytest

from aiflash.cli import main

from .browser import chromium, save_screenshot

TEAMS = ["Aurora", "Borealis", "Cirrus", "Dusk", "Ember", "Flare", "Gleam", "Halo"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaderboard")
    with (root / "phase2.csv").open("w", newline="") as handle:  # Codabench's export layout
        writer = csv.writer(handle)
        writer.writerow(["Username", "fact_sheet_answers"] + [f"AI Flash Portrait(7)-{t}" for t in (
            "Score", "LPIPS (person)", "DeltaE (person)", "PSNR (background, dB)", "SSIM (global)",
            "GlobalScore")])
        # PSNR_bg deliberately not in Score order, so sorting by it visibly reorders the rows.
        psnr = [24.0, 29.5, 26.0, 31.0, 22.5, 27.0, 25.0, 28.0]
        for i, team in enumerate(TEAMS):
            writer.writerow([f"{team}-{100 + i}", "", 86 - i, 0.03 + i / 200, 7 + i / 2, psnr[i],
                             0.9 - i / 100, 0.78 - i / 50])
    phase1 = [f"{t},{75 + i},0.08,12,22,0.8,0.5" for i, t in enumerate(TEAMS[:5])]
    (root / "phase1.csv").write_text("team,Score,LPIPS_person,DeltaE_person,PSNR_bg,SSIM_global,GlobalScore\n"
                                     + "\n".join(phase1) + "\n")
    rows = ["team,Score,LPIPS_person,DeltaE_person,PSNR_bg,SSIM_global,GlobalScore,online_score,"
            "difference,discrepancy,status,reason"]
    for i, team in enumerate(TEAMS[:6]):
        online = 85.5 - i
        score, flag, status, reason = f"{online - 0.05:.2f}", "false", "ok", ""
        if team == "Cirrus":
            score, flag = f"{online - 2.4:.2f}", "true"
        if team == "Dusk":
            score, status, reason = "", "failed", "ingestion crashed: CUDA out of memory"
        rows.append(f"{team},{score},{0.03 + i / 200},{7 + i / 2},{27 - i / 2},{0.9 - i / 100},"
                    f"{0.78 - i / 50},{online},,{flag},{status},{reason}")
    (root / "repro.csv").write_text("\n".join(rows) + "\n")
    (root / "subjective.csv").write_text(
        "team,top3,first,second,third,points,subjective\n"
        + "".join(f"{t},{p},{p // 3},{p // 3},{p - 2 * (p // 3)},{p},{80 + 10 * (p - 9) / 51:.4f}\n"
                  for t, p in zip(TEAMS[:6], [60, 45, 51, 30, 9, 27], strict=True)))
    out = root / "site"
    assert main(["leaderboard", "--phase1", str(root / "phase1.csv"), "--phase2", str(root / "phase2.csv"),
                 "--reproduction", str(root / "repro.csv"), "--subjective", str(root / "subjective.csv"),
                 "--output-dir", str(out)]) == 0
    return out


def column_texts(page, table: str, column: int) -> list[str]:
    return page.locator(f"#t-{table} tbody tr").evaluate_all(
        f"rows => rows.map(r => r.cells[{column}].innerText.trim())")


def test_leaderboard_page_renders_sorts_and_flags(site, tmp_path):
    with chromium() as browser:
        page = browser.new_page(1280, 900)
        page.goto((site / "index.html").as_uri())
        for table, count in (("final", 6), ("phase3", 6), ("experts", 6), ("phase2", 8), ("phase1", 5)):
            assert page.locator(f"#t-{table}").is_visible()
            assert page.locator(f"#t-{table} tbody tr").count() == count

        assert column_texts(page, "phase1", 1) == TEAMS[:5][::-1]
        assert column_texts(page, "phase2", 1) == TEAMS  # Score order
        header = page.locator("#t-phase2 th", has_text="PSNR_bg")
        header.click()
        assert header.get_attribute("aria-sort") == "descending"  # higher is better: best first
        assert column_texts(page, "phase2", 1)[:3] == ["Dusk", "Borealis", "Halo"]
        header.click()
        assert column_texts(page, "phase2", 1)[0] == "Ember"
        page.locator("#t-phase2 th", has_text="Team").click()
        assert column_texts(page, "phase2", 1) == sorted(TEAMS)

        flagged = page.locator("#t-phase3 tr.flagged")
        assert flagged.count() == 1 and "Cirrus" in flagged.inner_text()
        assert "discrepancy" in flagged.inner_text() and "-2.400" in flagged.inner_text()
        dq = page.locator("#t-phase3 tr.dq")
        assert dq.count() == 1
        cells = dq.locator("td").all_inner_texts()
        assert cells[0] == "–" and cells[1] == "Dusk" and cells[2] == "–"
        assert "disqualified" in dq.inner_text() and "CUDA out of memory" in dq.inner_text()
        page.locator("#t-phase3 th", has_text="Reproduced").click()  # worst first ...
        page.locator("#t-phase3 th", has_text="Reproduced").click()  # ... either way
        assert column_texts(page, "phase3", 1)[-1] == "Dusk"  # disqualified rows stay last

        final = column_texts(page, "final", 1)
        assert final[-1] == "Dusk" and "Dusk" in page.locator("#t-final tr.dq").inner_text()
        for table in ("phase2", "phase3"):  # back to rank order for the picture
            page.locator(f"#t-{table} th", has_text="#").click()
            assert column_texts(page, table, 0)[:3] == ["1", "2", "3"]
        shot = save_screenshot(page, "leaderboard.png", tmp_path / "leaderboard.png")
        assert shot.stat().st_size > 20_000 and (tmp_path / "leaderboard.png").is_file()

        phone = browser.new_page(390, 844)
        phone.goto((site / "index.html").as_uri())
        assert phone.locator("#t-final").is_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the page itself must not scroll sideways on a phone (tables scroll inside)"
        save_screenshot(phone, "leaderboard-phone.png", tmp_path / "leaderboard-phone.png")
        assert browser.network == []
