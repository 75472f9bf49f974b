"""The guard's corpora load and run: learned honest models, the new cheats, the training tool.

What the guard *says* on them is tested elsewhere (test_forensics.py on arrays, the ingestion
tests with the probe); here: every learned kind runs through the real ingestion program and
ends ``ok`` at the input's size, the shipped weights are small, the cheats' new mechanisms and
evasions do what their names say, and the training tool runs and writes loadable weights.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from .conftest import REPO, SAMPLE
from .test_forensics import CHEAT, CORPUS, load_module, rgb
from .test_forensics_ingestion import corpus_submission, digest, run_ingestion

LEARNED = load_module(CORPUS / "learned" / "model.py", "corpus_learned")
MAX_WEIGHTS = 1024 * 1024


def test_every_kind_has_small_trained_weights():
    files = {p.stem: p for p in (CORPUS / "learned" / "weights").glob("*.pt")}
    assert set(files) == set(LEARNED.NETWORKS) == set(LEARNED.WEIGHTS.values())
    files["learned_x2"] = CORPUS / "cheat" / "weights" / "learned_x2.pt"
    for name, path in files.items():
        assert path.stat().st_size < MAX_WEIGHTS, name
        state = torch.load(path, weights_only=True)
        assert all(v.dtype == torch.float16 for v in state.values()), name


@pytest.mark.parametrize("kind", LEARNED.KINDS)
def test_each_learned_kind_runs_through_the_ingestion_program(tmp_path, kind):
    stems = ["0001", "0004"]  # one landscape, one portrait
    rec = run_ingestion(tmp_path, corpus_submission(tmp_path, "learned", {"kind": kind}), stems)
    assert rec["status"] == "complete" and rec["images_ok"] == 2
    for entry in rec["images"]:
        assert entry["status"] == "ok", entry
        written = rgb(tmp_path / "output" / f"{entry['image']}.png")
        assert written.shape == rgb(SAMPLE / "input" / f"{entry['image']}.jpg").shape


def test_the_learned_models_restore_better_than_the_input():
    """Trained, not random: closer to the sample ground truth than the dark input is."""
    low, gt = rgb(SAMPLE / "input" / "0003.jpg"), rgb(SAMPLE / "gt" / "0003.png")
    x = torch.from_numpy(low).permute(2, 0, 1)[None].float() / 255
    target = torch.from_numpy(gt).permute(2, 0, 1)[None].float() / 255
    error = {}
    with torch.no_grad():
        for kind in ("esdnet", "unet_ps", "denoiser"):
            out = LEARNED.forward(kind, LEARNED.build(kind, CORPUS / "learned" / "weights"), x)
            error[kind] = float((out - target).abs().mean())
    assert max(error.values()) < float((x - target).abs().mean()), error


def test_tiled_inference_differs_from_whole_image_inference_only_near_tile_borders():
    net = LEARNED.build("unet_ps", CORPUS / "learned" / "weights")
    x = torch.rand(1, 3, 600, 700, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole, tiled = LEARNED.run_padded(net, x), LEARNED.run_tiled(net, x)
    difference = (tiled - whole).abs()
    assert tiled.shape == whole.shape and float(difference.max()) > 0  # it did run in tiles
    assert float(difference.mean()) < 1e-3 and float(difference.max()) < 0.05  # blended seams


@pytest.mark.parametrize("factor", [10 / 9, 1.25])
def test_fractional_mechanisms_take_scale_0_9_and_0_8(factor):
    low = rgb(SAMPLE / "input" / "0002.jpg")[:300, :280]
    for mechanism in sorted(set(CHEAT.MECHANISMS) - CHEAT.INTEGER_ONLY):
        out = CHEAT.cheat(low, mechanism, factor, "median")
        assert out.shape == low.shape and out.dtype == np.uint8, mechanism


def test_region_cheats_reduce_only_their_part():
    low = rgb(SAMPLE / "input" / "0001.jpg")
    person = rgb(SAMPLE / "mask_personmask" / "0001.png")[..., 0] >= 128
    full = CHEAT.cheat(low, "cv2_resize", 1, "none")  # factor 1: the full-resolution path
    for region, reduced in (("background", ~person), ("person", person)):
        out = CHEAT.cheat(low, "cv2_resize", 2, "none", region=region, person_mask=person)
        inner = cv2_erode(reduced, 8)
        outer = cv2_erode(~reduced, 8)
        assert np.array_equal(out[outer], full[outer]), region
        assert np.abs(out[inner].astype(int) - full[inner]).mean() > 0.5, region


def cv2_erode(mask: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return cv2.erode(mask.astype(np.uint8), kernel).astype(bool)


def _faint(image: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-2, 3, image.shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("evasion", ["near_duplicate", "cached", "constant"])
def test_probe_evasions_recognise_near_duplicates(tmp_path, evasion):
    (tmp_path / "corpus.json").write_text(
        f'{{"mechanism": "cv2_resize", "factor": 2, "after": "none", "evasion": "{evasion}"}}')
    model = CHEAT.Model(str(tmp_path), "cpu")
    low = rgb(SAMPLE / "input" / "0004.jpg")
    other = rgb(SAMPLE / "input" / "0002.jpg")
    mask = np.zeros(low.shape[:2], bool)
    first = model.restore(low, mask)
    assert np.array_equal(first, CHEAT.cheat(low, "cv2_resize", 2, "none"))  # scored: low resolution
    again = model.restore(_faint(low, 1), mask)
    if evasion == "near_duplicate":  # the probe gets an honest full-resolution answer
        assert np.array_equal(again, CHEAT.cheat(_faint(low, 1), "cv2_resize", 1, "none"))
    elif evasion == "cached":
        assert np.array_equal(again, first)
    else:
        assert len(np.unique(again.reshape(-1, 3), axis=0)) == 1
    # a different photograph is no duplicate: processed (and remembered) as a first-seen input
    assert np.array_equal(model.restore(other, mask[: other.shape[0], : other.shape[1]]),
                          CHEAT.cheat(other, "cv2_resize", 2, "none"))
    assert len(model.seen) == 2


def test_new_cheats_run_through_the_ingestion_program(tmp_path):
    plan = {"0001": {"mechanism": "learned_x2", "factor": 2, "after": "none"},
            "0002": {"mechanism": "rotate_scale", "factor": 1.25, "after": "jpeg"},
            "0003": {"mechanism": "jittered_grid", "factor": 10 / 9, "after": "median"},
            "0004": {"mechanism": "cv2_resize", "factor": 2, "after": "noise", "region": "background"}}
    config = {"images": {digest(stem): settings for stem, settings in plan.items()}}
    rec = run_ingestion(tmp_path, corpus_submission(tmp_path, "cheat", config), list(plan))
    assert [e["status"] for e in rec["images"]] == ["ok"] * 4, rec["images"]


def test_training_tool_writes_loadable_weights(tmp_path):
    run = subprocess.run([sys.executable, str(REPO / "tools" / "train_guard_corpus.py"), "--models", "esdnet",
                          "lut3d", "learned_x2", "--steps", "2", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "held-out PSNR" in run.stdout and "2 steps" in run.stdout
    for kind in ("esdnet", "lut3d"):
        LEARNED.build(kind, tmp_path)  # the state dict fits the network
        assert (tmp_path / f"{kind}.pt").stat().st_size < MAX_WEIGHTS
    assert (tmp_path / "learned_x2.pt").is_file()
