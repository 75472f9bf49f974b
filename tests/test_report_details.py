"""The per-submission detailed_results.html: worst/best images with thumbnails and heat maps,
metric distributions, extra sections; one self-contained file under 5 MB for 100 1K images that
opens in a browser without a single network request."""

from __future__ import annotations

import re
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from aiflash.cli import main
from aiflash.formula import compute_score
from aiflash.images import read_person_mask, read_rgb
from aiflash.previews import PREVIEW_SIZE, make_preview
from aiflash.profile import SCORED_METRICS, load_profile
from aiflash.report import detailed_results_html, image_scores, leaderboard_scores, score_contributions

from .browser import chromium, save_screenshot
from .conftest import SAMPLE
from .synth import degrade

PROFILE = load_profile("default")
LIMIT = 5_000_000  # bytes: small enough to upload as Codabench detailed results


def sample_arrays():
    """(result-like, gt, person mask, input) arrays of the four 1K sample images."""
    rng = np.random.default_rng(3)
    out = []
    for gt_path in sorted((SAMPLE / "gt").glob("*.png")):
        gt, _ = read_rgb(gt_path)
        person = read_person_mask(SAMPLE / "mask_personmask" / gt_path.name)
        low, _ = read_rgb(next((SAMPLE / "input").glob(gt_path.stem + ".*")))
        out.append((degrade(gt, rng, 0.6), gt, person, low))
    return out


def hundred_images():
    """Per-image rows and previews for 100 sample-sized (1K) results, as scoring makes them."""
    rng = np.random.default_rng(7)
    bases = sample_arrays()
    rows, previews = [], {}
    for n in range(100):
        result, gt, person, low = bases[n % len(bases)]
        shifted = cv2.add(result, np.full(result.shape, int(rng.integers(0, 20)), np.uint8))
        stem = f"{n + 1:04d}"
        previews[stem] = make_preview(shifted, gt, person, low)
        rows.append({"image": stem, "result_file": f"{stem}.png", "width": gt.shape[1], "height": gt.shape[0],
                     "person_fraction": float(person.mean()),
                     "LPIPS_person": float(rng.uniform(0.01, 0.2)),
                     "DeltaE_person": float(rng.uniform(3, 25)), "PSNR_bg": float(rng.uniform(18, 36)),
                     "SSIM_global": float(rng.uniform(0.65, 0.97)), "note": ""})
    return pd.DataFrame(rows), previews


def report(per_image, previews, sections=None):
    breakdown = compute_score({k: float(per_image[k].mean()) for k in SCORED_METRICS}, PROFILE)
    return detailed_results_html(leaderboard_scores(breakdown, {}), breakdown, per_image, PROFILE,
                                 ["0007.png: fully opaque alpha channel dropped"], sections=sections,
                                 previews=previews)


def test_report_for_100_images_is_small_self_contained_and_opens_offline(tmp_path):
    per_image, previews = hundred_images()
    sections = ["<h2>Ingestion summary</h2><p id='ingestion'>100 images in 412 s (4.1 s/image).</p>",
                "<h2>Guard findings</h2><ul id='guards'><li>no rescaling detected</li></ul>"]
    page = report(per_image, previews, sections)
    path = tmp_path / "detailed_results.html"
    path.write_text(page, encoding="utf-8")
    size = path.stat().st_size
    assert size < LIMIT, f"{size / 1e6:.2f} MB"
    assert page.count("class='case worst'") == 5 and page.count("class='case best'") == 5
    assert page.count("<svg") == len(SCORED_METRICS)  # one histogram per scored metric
    assert len(re.findall(r"src='data:image/jpeg;base64,", page)) == 10 * 4  # input, result, GT, heat map
    assert "src='http" not in page and "href='http" not in page and "<link" not in page
    assert page.index("Worst") < page.index("Distributions") < page.index("Ingestion summary") \
        < page.index("Per image")

    with chromium() as browser:
        view = browser.new_page(1200, 900)
        view.goto(path.as_uri())
        assert view.locator("#ingestion").is_visible() and view.locator("#guards").is_visible()
        assert view.locator(".case").count() == 10 and view.locator("svg").count() == 4
        view.wait_for_function("Array.from(document.images).every(i => i.complete)")
        widths = view.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
        assert len(widths) == 40 and all(0 < w <= PREVIEW_SIZE for w in widths)
        save_screenshot(view, "detailed_results.png", tmp_path / "detailed_results.png")
        assert browser.network == []


def test_worst_and_best_are_ranked_by_score_contribution():
    per_image = pd.DataFrame({"image": ["good", "bad", "mid"], "LPIPS_person": [0.02, 0.14, 0.05],
                              "DeltaE_person": [5.0, 30.0, 10.0], "PSNR_bg": [33.0, 18.0, 28.0],
                              "SSIM_global": [0.95, 0.7, 0.9]})
    contribution = score_contributions(per_image, PROFILE)
    assert contribution.idxmin() == 1 and contribution.idxmax() == 0
    assert contribution[1] < 0 < contribution[0]
    full = compute_score({k: per_image[k].mean() for k in SCORED_METRICS}, PROFILE).score
    without_bad = compute_score({k: per_image[k].drop(1).mean() for k in SCORED_METRICS}, PROFILE).score
    assert contribution[1] == pytest.approx(full - without_bad)
    own = image_scores(per_image, PROFILE)
    mid = dict(per_image.iloc[2][list(SCORED_METRICS)])
    assert own[2] == pytest.approx(compute_score(mid, PROFILE).score)
    single = report(per_image.iloc[:1], {})
    assert "Worst" not in single and "Distributions" in single  # nothing to compare with one image


def test_preview_thumbnails_and_heat_map():
    result, gt, person, low = sample_arrays()[0]
    preview = make_preview(result, gt, person)
    assert preview.input is None
    heat = cv2.imdecode(np.frombuffer(preview.error, np.uint8), cv2.IMREAD_COLOR)
    assert max(heat.shape[:2]) == PREVIEW_SIZE
    same = make_preview(gt, gt, person)
    flat = cv2.imdecode(np.frombuffer(same.error, np.uint8), cv2.IMREAD_COLOR)
    assert flat.mean() < heat.mean()  # no error: dark map (only the mask outline is bright)


@pytest.mark.parametrize("with_input", [True, False])
def test_scoring_run_embeds_thumbnails_and_skips_a_missing_input(tmp_path, with_input):
    reference = tmp_path / "ref"
    for folder in ("gt", "mask_personmask") + (("input",) if with_input else ()):
        shutil.copytree(SAMPLE / folder, reference / folder)
    out = tmp_path / "out"
    assert main(["score", "--reference-dir", str(reference), "--prediction-dir", str(SAMPLE / "results"),
                 "--output-dir", str(out), "--device", "cpu", "--quiet"]) == 0
    page = (out / "detailed_results.html").read_text()
    shown = 2 * min(5, 4 // 2)  # worst and best halves of four images
    assert page.count("class='case ") == shown
    assert page.count("alt='Input'") == (shown if with_input else 0)
    assert page.count("alt='Error |result − GT|'") == shown
