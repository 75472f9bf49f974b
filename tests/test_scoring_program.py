"""The Codabench scoring program run as the worker runs it, and every bad input it must refuse."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from aiflash.cli import main
from aiflash.device import pick_device
from aiflash.metrics.lpips import default_runtime
from aiflash.report import LEADERBOARD_KEYS

from .conftest import REPO
from .synth import make_dataset, write_grey, write_rgb

sys.path.insert(0, str(REPO / "tools"))
import published_scorer as published  # noqa: E402

STEMS = ["0001", "0002", "0003"]
SIZE = (96, 128)


def run_program(ref, res, out, *extra):
    """scoring_program/score.py in a fresh process, cwd = the program folder (as Codabench does)."""
    return subprocess.run(
        [sys.executable, "score.py", "--reference-dir", str(ref), "--prediction-dir", str(res),
         "--output-dir", str(out), *extra],
        cwd=REPO / "scoring_program", capture_output=True, text=True, timeout=300)


def test_program_writes_the_three_outputs_with_published_numbers(tmp_path):
    ref, res = make_dataset(tmp_path, STEMS, SIZE)
    out = tmp_path / "output"
    done = run_program(ref, res, out)
    assert done.returncode == 0, done.stderr
    device = pick_device(None)
    assert f"LPIPS-Alex on {device} ({default_runtime(device)}); " in done.stdout, done.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "detailed_results.html", "per_image_scores.csv", "scores.json"]
    scores = json.loads((out / "scores.json").read_text())
    assert tuple(scores) == LEADERBOARD_KEYS
    assert all(isinstance(v, float) for v in scores.values())
    want = published.score_folder(ref, res)
    assert scores["Score"] == pytest.approx(want["Score"], abs=1e-3)
    for key in ("PSNR_bg", "SSIM_global", "DeltaE_person", "LPIPS_person"):
        assert scores[key] == pytest.approx(want[key], abs=1e-4)
    table = pd.read_csv(out / "per_image_scores.csv", dtype={"image": str})
    assert table["image"].tolist() == STEMS
    page = (out / "detailed_results.html").read_text()
    assert "Score" in page and "0003" in page and "adaptive weight" in page
    # Self-contained: images inline as data: URIs, nothing fetched.
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"src=['\"](?!data:)", page)


def test_extended_profile_adds_ciede2000(tmp_path):
    ref, res = make_dataset(tmp_path, STEMS[:1], SIZE)
    assert main(["score", "--reference-dir", str(ref), "--prediction-dir", str(res),
                 "--output-dir", str(tmp_path / "o"), "--profile", "extended", "--quiet"]) == 0
    scores = json.loads((tmp_path / "o" / "scores.json").read_text())
    assert set(scores) == set(LEADERBOARD_KEYS) | {"CIEDE2000_person"}
    assert 0 < scores["CIEDE2000_person"] < 50


def _break(kind: str, ref, res):
    """Apply one kind of damage to a valid dataset; returns a text the error must contain."""
    gt_size = f"{SIZE[1]}x{SIZE[0]}"
    if kind == "missing_prediction":
        (res / "0002.png").unlink()
        return "1 missing (0002)"
    if kind == "extra_prediction":
        write_rgb(res / "0004.png", np.zeros((*SIZE, 3), np.uint8))
        return "1 extra (0004.png)"
    if kind == "duplicate_stem":
        write_rgb(res / "0001.jpg", np.zeros((*SIZE, 3), np.uint8))
        return "0001: 0001.jpg and 0001.png"
    if kind == "wrong_size":
        write_rgb(res / "0003.png", np.zeros((SIZE[0] // 2, SIZE[1] // 2, 3), np.uint8))
        return f"0003.png: result for image 0003 is 64x48 (WxH) but its ground truth is {gt_size}"
    if kind == "corrupt":
        (res / "0002.png").write_bytes((res / "0002.png").read_bytes()[:300])
        return "0002.png: cannot be decoded"
    if kind == "sixteen_bit":
        cv2.imwrite(str(res / "0001.png"), np.zeros((*SIZE, 3), np.uint16) + 1000)
        return "0001.png: is a 16-bit PNG"
    if kind == "greyscale":
        cv2.imwrite(str(res / "0001.png"), np.zeros(SIZE, np.uint8))
        return "0001.png: is a greyscale PNG"
    if kind == "transparent":
        rgba = np.full((*SIZE, 4), 255, np.uint8)
        rgba[5:9, 5:9, 3] = 0
        cv2.imwrite(str(res / "0001.png"), rgba)
        return "0001.png: has an alpha channel with 16 transparent pixel(s)"
    if kind == "missing_mask":
        (ref / "mask_personmask" / "0003.png").unlink()
        return "no person mask for 1 ground-truth image(s): 0003"
    if kind == "mask_other_size":
        write_grey(ref / "mask_personmask" / "0002.png", np.full((50, 60), 255, np.uint8))
        return f"0002.png: mask is 60x50 but its ground truth 0002.png is {gt_size}"
    if kind == "empty_mask":
        write_grey(ref / "mask_personmask" / "0001.png", np.zeros(SIZE, np.uint8))
        return "0001.png: mask has no person pixel"
    raise AssertionError(kind)


BAD_KINDS = ["missing_prediction", "extra_prediction", "duplicate_stem", "wrong_size", "corrupt",
             "sixteen_bit", "greyscale", "transparent", "missing_mask", "mask_other_size", "empty_mask"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_input_gives_one_line_and_no_scores(tmp_path, capsys, kind):
    ref, res = make_dataset(tmp_path, STEMS, SIZE)
    expected = _break(kind, ref, res)
    out = tmp_path / "output"
    out.mkdir()
    (out / "scores.json").write_text('{"Score": 99.0}')  # a stale file must not survive
    code = main(["score", "--reference-dir", str(ref), "--prediction-dir", str(res),
                 "--output-dir", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert expected in err
    assert not (out / "scores.json").exists()


def test_bad_input_through_the_real_program(tmp_path):
    ref, res = make_dataset(tmp_path, STEMS, SIZE)
    expected = _break("wrong_size", ref, res)
    done = run_program(ref, res, tmp_path / "output")
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and expected in done.stderr
    assert not (tmp_path / "output" / "scores.json").exists()


def test_wrapping_folder_and_macos_junk_are_accepted(tmp_path):
    ref, res = make_dataset(tmp_path, STEMS, SIZE)
    wrapped = tmp_path / "unzipped"
    (wrapped / "my_results").mkdir(parents=True)
    for p in res.iterdir():
        p.rename(wrapped / "my_results" / p.name)
    (wrapped / "__MACOSX" / "my_results").mkdir(parents=True)
    (wrapped / "__MACOSX" / "my_results" / "._0001.png").write_bytes(b"\0\5\26\7")
    (wrapped / "my_results" / ".DS_Store").write_bytes(b"\0")
    (wrapped / "metadata").write_text("exitCode: 0\n")  # the worker's own file
    out = tmp_path / "output"
    assert main(["score", "--reference-dir", str(ref), "--prediction-dir", str(wrapped),
                 "--output-dir", str(out), "--quiet"]) == 0
    assert len(json.loads((out / "scores.json").read_text())) == len(LEADERBOARD_KEYS)
    assert not (out / "metadata").exists()
