"""Output consistency and determinism, end to end with the local runner on the sample data.

Three teams are reproduced, then compared with planted "online" outputs (as downloaded from
Codabench: prediction_result.zip, with the worker's metadata file and ingestion.json):
- flash-baseline: online outputs made by another model (the identity sample) -> OUTPUTS DIFFER;
- tiny-cnn: online = reproduced + +-1 level of noise on every pixel -> within tolerance;
- identity: online = reproduced -> identical.
The report page, in a real browser, shows both verdicts and the worst pair side by side.
A deliberately non-deterministic model run twice (`--repeat 2`) shows its run-to-run difference;
a deterministic one shows none.
"""

from __future__ import annotations

import json
import shutil
import zipfile

import cv2
import numpy as np
import pytest

from aiflash.cli import main
from aiflash.profile import OutputConsistency
from aiflash.reproduce.consistency import (
    DIFFERENT,
    IDENTICAL,
    OUTPUTS_DIFFER,
    WITHIN,
    compare_outputs,
    pixel_difference,
    verdict,
)

from .browser import chromium, save_screenshot
from .conftest import FIXTURES, REPO, SAMPLE
from .test_bundle_helpers import built_bundle

SAMPLES = REPO / "sample_submissions"
RULES = OutputConsistency()


def _reproduce(submissions, out, *extra):
    return main(["reproduce", "--runner", "local", "--gpus", "none", "--submissions", str(submissions),
                 "--data", str(SAMPLE), "--output-dir", str(out), "--bundle", str(built_bundle()), *extra])


def _prediction_zip(predictions, archive, transform=None):
    """The team's predictions as Codabench's prediction_result.zip holds them."""
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(predictions.iterdir()):
            if path.suffix == ".png" and transform is not None:
                rgb = transform(cv2.imread(str(path), cv2.IMREAD_COLOR))
                out.writestr(path.name, cv2.imencode(".png", rgb)[1].tobytes())
            else:
                out.write(path, path.name)
        out.writestr("metadata", "exitCode: null\ningestionExitCode: 0\n")
    return archive


def _one_level_noise(bgr: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(7)
    noisy = bgr.astype(np.int16) + rng.choice(np.array([-1, 1], np.int16), size=bgr.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    root = tmp_path_factory.mktemp("consistency")
    submissions = root / "submissions"
    for team, sample in (("flash-baseline", "flash_baseline"), ("tiny-cnn", "tiny_cnn"),
                         ("identity", "identity")):
        shutil.copytree(SAMPLES / sample, submissions / team,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = root / "out"
    first = _reproduce(submissions, out)
    predictions = {team: out / "teams" / team / "predictions" for team in ("flash-baseline", "tiny-cnn",
                                                                          "identity")}
    online = root / "online"
    online.mkdir()
    _prediction_zip(predictions["identity"], online / "flash-baseline.zip")  # another model's outputs
    _prediction_zip(predictions["tiny-cnn"], online / "TINY-CNN.zip", _one_level_noise)
    with zipfile.ZipFile(_prediction_zip(predictions["identity"], root / "identity.zip")) as archive:
        archive.extractall(online / "identity")  # a folder works as well as a zip
    second = _reproduce(submissions, out, "--online-outputs", str(online))
    report = json.loads((out / "reproduction.json").read_text())
    return {"first": first, "second": second, "out": out,
            "rows": {row["team"]: row for row in report["teams"]}, "report": report}


def test_planted_teams_get_their_verdicts(compared):
    assert compared["first"] == 0 and compared["second"] == 0
    assert compared["report"]["meta"]["resumed_teams"] == "flash-baseline, identity, tiny-cnn"
    rows = compared["rows"]
    other = rows["flash-baseline"]
    assert other["status"] == "ok" and other["outputs"] == OUTPUTS_DIFFER
    assert other["outputs_flag"] == OUTPUTS_DIFFER and other["flag"] == ""  # separate from the Score's flag
    assert other["outputs_different"] == "4/4" and other["outputs_min_psnr_db"] < RULES.min_psnr_db
    worst = other["outputs_worst"].split(", ")
    assert len(worst) == RULES.worst_images and set(worst) <= {"0001", "0002", "0003", "0004"}
    noisy = rows["tiny-cnn"]
    assert noisy["outputs"] == WITHIN and noisy["outputs_flag"] == "" and noisy["outputs_max_abs_diff"] == 1
    assert 47.0 < noisy["outputs_min_psnr_db"] < 49.0  # +-1 on (nearly) every value: 48.1 dB
    assert rows["identity"]["outputs"] == IDENTICAL and rows["identity"]["outputs_max_abs_diff"] == 0
    per_image = (compared["out"] / "teams" / "flash-baseline" / "consistency.csv").read_text().splitlines()
    assert per_image[0] == "image,verdict,psnr_db,max_abs_diff,note" and len(per_image) == 5
    assert all(f",{DIFFERENT}," in line for line in per_image[1:])
    # Flagged teams first: the team whose outputs differ leads the table.
    assert compared["report"]["teams"][0]["team"] == "flash-baseline"


def test_report_page_shows_both_verdicts_and_the_worst_pair(compared, tmp_path):
    html = compared["out"] / "reproduction.html"
    with chromium() as browser:
        page = browser.new_page(1400, 1000)
        page.goto(html.as_uri())
        verdict_of = {team: page.locator(f"table.consistency tr[data-team='{team}'] td").nth(1).inner_text()
                      for team in ("flash-baseline", "tiny-cnn", "identity")}
        assert verdict_of == {"flash-baseline": OUTPUTS_DIFFER, "tiny-cnn": WITHIN, "identity": IDENTICAL}
        heading = page.locator("h3[data-pair='flash-baseline']")
        assert heading.is_visible()
        worst = compared["rows"]["flash-baseline"]["outputs_worst"].split(", ")[0]
        assert f"worst image {worst}" in heading.inner_text()
        pair = heading.locator("xpath=following-sibling::div[1]")
        images = pair.locator("img")
        assert images.count() == 3
        sizes = [images.nth(i).evaluate("img => [img.naturalWidth, img.getBoundingClientRect().left]")
                 for i in range(3)]
        assert all(width > 0 for width, _ in sizes)
        assert sizes[0][1] < sizes[1][1] < sizes[2][1]  # side by side
        assert [c.inner_text() for c in pair.locator("figcaption").all()][:2] == ["reproduced",
                                                                                 "online (Codabench)"]
        assert page.locator("h3[data-pair='tiny-cnn']").is_visible()
        assert OUTPUTS_DIFFER in page.locator("p").first.inner_text()  # counted among teams needing attention
        save_screenshot(page, "reproduction-consistency.png")
        assert browser.network == []


@pytest.fixture(scope="module")
def repeated(tmp_path_factory):
    root = tmp_path_factory.mktemp("repeat")
    submissions = root / "submissions"
    shutil.copytree(FIXTURES / "submissions" / "nondeterministic", submissions / "jitter")
    shutil.copytree(SAMPLES / "identity", submissions / "steady",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = root / "out"
    code = _reproduce(submissions, out, "--repeat", "2")
    report = json.loads((out / "reproduction.json").read_text())
    return {"code": code, "out": out, "report": report, "rows": {r["team"]: r for r in report["teams"]}}


def test_repeat_reports_run_to_run_differences_and_timing(repeated):
    assert repeated["code"] == 0
    determinism = repeated["report"]["determinism"]
    jitter, steady = determinism["jitter"], determinism["steady"]
    assert jitter["runs"] == steady["runs"] == 2
    assert jitter["nondeterministic_images"] == 4 and 1 <= jitter["max_abs_diff"] <= 2
    assert all(i["verdict"] == WITHIN and i["min_psnr_db"] > 45 for i in jitter["images"])
    assert steady["nondeterministic_images"] == 0 and steady["max_abs_diff"] == 0
    for record in (jitter, steady):
        assert all(i["time_median_s"] is not None and i["time_spread_s"] >= 0 for i in record["images"])
        assert len(record["per_run"]) == 2
        for run in record["per_run"]:  # a CPU run cannot know these: absent, not guessed
            assert run["device"] == "cpu" and run["gpu_name"] is None and run["driver"] is None
            assert run["cuda"] is None and run["peak_gpu_memory_mb"] is None
    assert jitter["model_parameters"] == 12 and steady["model_parameters"] is None
    row = repeated["rows"]["jitter"]
    assert row["runs"] == 2 and row["nondeterministic_images"] == 4 and row["model_parameters"] == 12
    assert (repeated["out"] / "teams" / "jitter" / "repeats" / "run2" / "predictions" / "0001.png").is_file()
    html = (repeated["out"] / "reproduction.html").read_text()
    assert "Determinism and timing" in html and "jitter: 2 run(s), 4 image(s) differ between runs" in html
    assert "steady: 2 run(s), 0 image(s) differ between runs" in html and "absent" in html


def test_verdicts_on_pixels():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(64, 48, 3), dtype=np.uint8)
    assert pixel_difference(image, image) == (float("inf"), 0)
    assert verdict(*pixel_difference(image, image), RULES) == IDENTICAL
    nudged = image.copy()
    nudged[0, 0, 0] ^= 1
    assert verdict(*pixel_difference(image, nudged), RULES) == WITHIN
    spike = image.copy()
    spike[5, 5, 1] = 255 - spike[5, 5, 1] // 2 if spike[5, 5, 1] < 100 else 0
    psnr, largest = pixel_difference(image, spike)
    assert largest > RULES.max_abs_diff and psnr > RULES.min_psnr_db
    assert verdict(psnr, largest, RULES) == DIFFERENT  # one wild pixel is not rounding noise
    other = rng.integers(0, 256, size=image.shape, dtype=np.uint8)
    assert verdict(*pixel_difference(image, other), RULES) == DIFFERENT


def test_team_verdict_counts_missing_images_and_the_share(tmp_path):
    rng = np.random.default_rng(5)
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir(), theirs.mkdir()
    for index in range(40):
        image = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
        cv2.imwrite(str(mine / f"{index:04d}.png"), image)
        if index:  # one image missing online: 1 of 40 = 2.5 % <= 5 %
            cv2.imwrite(str(theirs / f"{index:04d}.png"), image)
    result = compare_outputs("t", mine, theirs, RULES)
    assert result.different == 1 and result.verdict == WITHIN and result.worst == ("0000",)
    (theirs / "0001.png").unlink()
    (theirs / "0002.png").unlink()  # 3 of 40 = 7.5 % > 5 %
    assert compare_outputs("t", mine, theirs, RULES).verdict == OUTPUTS_DIFFER
