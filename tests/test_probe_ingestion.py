"""The resolution probe through the real ingestion program (both APIs), the reproduction report and
the leaderboard: models that try to evade it, an honest nondeterministic one, the cost, the plots.

The hostile models reduce the resolution with numpy alone (block means, then a bilinear
enlargement written out by hand), which no code hook sees; what is asserted is the probe's own
verdict, whatever the content check says too.
"""

from __future__ import annotations

import html
import json
import textwrap
import zipfile
from pathlib import Path

import pytest

from aiflash.cli import main
from aiflash.probe import FREQUENCIES, TOP

from .browser import chromium, save_screenshot
from .conftest import REPO, SAMPLE
from .test_bundle_helpers import built_bundle
from .test_ingestion import STEMS, ingest, make_input_data, record, score, write_submission

QUARTER = """
    import numpy as np

    def enlarge(small, axis, size):  # bilinear, pixel centres aligned, numpy only
        n = small.shape[axis]
        where = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
        below = np.floor(where).astype(int)
        above = np.minimum(below + 1, n - 1)
        shape = [1, 1, 1]
        shape[axis] = size
        t = (where - below).reshape(shape)
        return np.take(small, below, axis) * (1 - t) + np.take(small, above, axis) * t

    def quarter(image):  # 4x4 block means (a quarter of the resolution), enlarged back
        h, w = image.shape[0] // 4 * 4, image.shape[1] // 4 * 4
        small = image[:h, :w].astype(np.float32).reshape(h // 4, 4, w // 4, 4, 3).mean((1, 3))
        return enlarge(enlarge(small, 0, image.shape[0]), 1, image.shape[1])

    def brighten(image):
        return np.clip(image.astype(np.float32) * 2.5, 0, 255).astype(np.uint8)
"""

NEAR_DUPLICATES = QUARTER + """
    class Model:
        '''Restores what it has not seen at a quarter of the resolution, near-duplicates (the probe's copies)
        honestly at full resolution, or from its cache when MODE says so.'''
        MODE = "{mode}"

        def __init__(self, weights_dir, device):
            self.seen = []

        def restore(self, image, person_mask):
            h, w = image.shape[0] // 32 * 32, image.shape[1] // 32 * 32  # 32x32 block means
            luma = image[:h, :w].astype(np.float32).mean(2)
            thumb = luma.reshape(32, h // 32, 32, w // 32).mean((1, 3)).ravel()
            for earlier, output in self.seen:
                if np.corrcoef(earlier, thumb)[0, 1] > 0.995:
                    return output if self.MODE == "cached" else brighten(image)
            output = brighten(quarter(image))
            self.seen.append((thumb, output))
            return output
"""

BACKGROUND_AT_QUARTER = QUARTER + """
    class Model:
        def __init__(self, weights_dir, device):
            pass

        def restore(self, image, person_mask):
            return np.where(person_mask[..., None], brighten(image), brighten(quarter(image)))
"""

NOISY = """
    import numpy as np

    class Model:
        '''Honest, but with fresh noise on every call from a generator no seed reaches.'''
        def __init__(self, weights_dir, device):
            pass

        def restore(self, image, person_mask):
            noise = np.random.default_rng().normal(0, 2.0, image.shape)
            return np.clip(image * 2.5 + noise, 0, 255).astype(np.uint8)
"""

SEEDED_NOISE = """
    import numpy as np
    import torch

    class Model:
        '''Noise from the global generators: the ingestion program seeds them before every call.'''
        def __init__(self, weights_dir, device):
            pass

        def restore(self, image, person_mask):
            noise = np.random.normal(0, 2.0, image.shape) + torch.randn(image.shape).numpy()
            return np.clip(image * 2.5 + noise, 0, 255).astype(np.uint8)
"""

FOLDER_AT_QUARTER = QUARTER + """
    from pathlib import Path
    import cv2

    def main(model_dir, input_path, output_path, device):
        for path in sorted(Path(input_path).iterdir()):
            rgb = cv2.imread(str(path))
            cv2.imwrite(str(Path(output_path) / (path.stem + ".png")), brighten(quarter(rgb)))
"""


def run(tmp_path: Path, source: str, *extra: str) -> tuple[dict, str]:
    submission = write_submission(tmp_path, textwrap.dedent(source))
    out = tmp_path / "output"
    done = ingest(make_input_data(tmp_path), submission, out, *extra)
    rec = record(out)
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{s}.png" for s in STEMS] + ["ingestion.json"])
    return rec, done.stdout + done.stderr


@pytest.mark.parametrize("mode", ["full", "cached"])
def test_near_duplicate_and_cached_answers_are_flagged_on_every_image(tmp_path, mode):
    rec, log = run(tmp_path, NEAR_DUPLICATES.replace("{mode}", mode))
    probe = rec["probe"]
    assert probe["verdict"] == "flagged", probe
    assert probe["extra_calls"] == 6 and len(probe["images"]) == 2
    assert all(e["status"] == "ok" and e["probe_verdict"] == "flagged" and e["rescale_verdict"] == "flagged"
               and any(r.startswith("probe: ") for r in e["reasons"]) for e in rec["images"])
    if mode == "full":
        assert probe["response"] > 0.5 and "differ from its scored output" in probe["reasons"][0]
    else:
        assert probe["response"] < 0.01 and f"its response to a grating at {TOP}" in probe["reasons"][0]
    assert "probe: flagged on 2 image(s)" in log and "extra model call(s)" in log


def test_background_only_reduction_is_flagged_and_scoring_shows_the_probe(tmp_path):
    rec, _ = run(tmp_path, BACKGROUND_AT_QUARTER)
    assert rec["probe"]["verdict"] == "flagged" and rec["probe"]["weakest"].startswith("background/")
    assert rec["rescale_verdicts"]["flagged"] == len(STEMS)
    scored = tmp_path / "scores"
    assert score(tmp_path / "output", scored).returncode == 0
    page = (scored / "detailed_results.html").read_text()
    assert "<h2>Resolution probe</h2>" in page and page.count("<svg class='transfer-curve'") == 1
    assert all(html.escape(reason) in page for reason in rec["probe"]["reasons"])


def test_honest_nondeterminism_is_reported_and_seeded_randomness_repeats(tmp_path):
    rec, log = run(tmp_path / "noisy", NOISY)
    probe = rec["probe"]
    assert probe["verdict"] == "clean", probe["reasons"]
    assert probe["nondeterminism"] > 0.5
    assert any("outputs differ for the same input" in note for note in probe["notes"])
    assert "probe note: outputs differ for the same input" in log
    rec, _ = run(tmp_path / "seeded", SEEDED_NOISE)
    assert rec["probe"]["verdict"] == "clean" and rec["probe"]["nondeterminism"] == 0.0
    assert all(m["max_repeat_diff"] == 0 for m in rec["probe"]["images"])
    assert "seeded with 0 before every model call" in rec["environment"]["seeds"]


def test_folder_api_is_probed_with_one_more_main_call(tmp_path):
    rec, _ = run(tmp_path, FOLDER_AT_QUARTER)
    assert rec["api"] == "folder" and rec["probe"]["verdict"] == "flagged"
    assert rec["probe"]["extra_calls"] == 6 and max(rec["probe"]["responds_to"].values()) < 0.25


def test_sample_models_are_clean_and_the_probe_can_be_switched_off(tmp_path):
    for name in ("identity", "folder_api"):
        source = (REPO / "sample_submissions" / name / "model.py").read_text()
        rec, _ = run(tmp_path / name, source)
        assert rec["probe"]["verdict"] == "clean" and rec["rescale_verdicts"]["clean"] == len(STEMS), name
        assert rec["probe"]["settings"]["images"] == 2 and rec["probe"]["model_s"] >= 0
    rec, log = run(tmp_path / "off", NEAR_DUPLICATES.replace("{mode}", "full"), "--probe-images", "0")
    assert rec["probe"]["verdict"] is None and rec["probe"]["extra_calls"] == 0
    assert "probe:" not in log


def _zip(source: str, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("model.py", textwrap.dedent(source))


def test_reproduction_report_and_leaderboard_show_each_teams_transfer_curve(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    _zip((REPO / "sample_submissions" / "identity" / "model.py").read_text(), submissions / "honest.zip")
    _zip(NEAR_DUPLICATES.replace("{mode}", "cached"), submissions / "evasive.zip")
    out, site = tmp_path / "out", tmp_path / "site"
    assert main(["reproduce", "--runner", "local", "--gpus", "none", "--submissions", str(submissions),
                 "--data", str(SAMPLE), "--output-dir", str(out), "--bundle", str(built_bundle())]) == 0
    assert main(["leaderboard", "--reproduction", str(out / "reproduction.csv"),
                 "--output-dir", str(site)]) == 0
    rows = {r["team"]: r for r in json.loads((out / "reproduction.json").read_text())["teams"]}
    top = f"{FREQUENCIES[-1]:.2f}"
    assert rows["honest"]["probe"] == "clean" and rows["honest"]["probe_responds_to"] == \
        f"horizontal {top}, vertical {top}"
    assert rows["evasive"]["probe"] == "flagged" and "probe: responds up to" in rows["evasive"]["review"]
    assert f"(response at {TOP} cycles/px 0 < " in rows["evasive"]["review"]  # which measure, against what
    with chromium() as browser:
        page = browser.new_page(1400, 1000)
        page.goto((out / "reproduction.html").as_uri())
        figures = page.locator("figure.probe-team")
        assert figures.count() == 2
        evasive = page.locator("figure.probe-team[data-team='evasive']")
        assert "flag" in evasive.get_attribute("class") and "flagged" in evasive.inner_text()
        for team in ("honest", "evasive"):
            plot = page.locator(f"figure.probe-team[data-team='{team}'] svg.transfer-curve")
            assert plot.is_visible() and plot.locator("polyline").count() == 4
            box = plot.bounding_box()
            assert box["width"] > 200 and box["height"] > 100
        evasive.scroll_into_view_if_needed()
        save_screenshot(page, "reproduction-probe.png", tmp_path / "reproduction-probe.png")
        board = browser.new_page(1280, 900)
        board.goto((site / "index.html").as_uri())
        row = board.locator("#t-phase3 tbody tr", has_text="evasive")
        assert row.locator(".pill.review").is_visible() and "probe: responds up to" in row.inner_text()
        assert browser.network == []


def test_probe_calibration_suggests_thresholds_and_lists_every_judged_pair(tmp_path, capsys):
    """`aiflash forensics calibrate --probe` on real submissions through the ingestion program: an
    honest one and a 2x round trip, every sample input probed and judged in pairs as a run would."""
    import csv

    from aiflash.profile import load_profile

    from .test_forensics_ingestion import corpus_submission

    honest = REPO / "sample_submissions" / "identity"
    cheat = corpus_submission(tmp_path, "cheat", {"mechanism": "cv2_resize", "factor": 2, "after": "none"})
    rows_csv, profile = tmp_path / "rows.csv", tmp_path / "probe.yaml"
    assert main(["forensics", "calibrate", "--probe", "--honest", str(honest), "--cheat", str(cheat),
                 "--data", str(SAMPLE), "--rows", str(rows_csv), "--write", str(profile)]) == 0
    printed = capsys.readouterr().out
    assert "suggested probe thresholds:" in printed and "independence_min:" in printed
    assert "0/2 honest runs flagged, 0/2 cheating runs passing" in printed
    rows = list(csv.DictReader(rows_csv.open()))
    judged = [(r["kind"], r["flagged_by_suggested"]) for r in rows]
    assert judged == [("honest", "False")] * 2 + [("cheat", "True")] * 2
    assert all(float(r["independence"]) < 3.0 for r in rows if r["kind"] == "cheat")
    suggested = load_profile(str(profile)).probe
    assert suggested.independence_min > max(float(r["independence"]) for r in rows if r["kind"] == "cheat")
    assert "0/2 honest runs flagged" in suggested.calibration
