#!/usr/bin/env python3
"""Benchmark: our scorer vs a plain per-image restatement of the published algorithm.

Generates a Phase 2/3-sized set (100 pairs at 1K with person masks, PNG), then scores it
1. with ``tools/published_scorer.py`` (cv2 decode, torch conv2d SSIM, cv2 Lab, one LPIPS call per
   crop: the organisers' way), and
2. with ``scoring_program/score.py`` (what Codabench runs),
each in a fresh process, start-up included. Prints the wall-time ratio, peak RSS of each, whether
the numbers agree within the spec §6 tolerances, and an in-process per-stage breakdown.

    python tools/bench_scoring.py [--images 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tools")]

TOLERANCE = {"PSNR_bg": 1e-4, "SSIM_global": 1e-5, "DeltaE_person": 1e-4, "LPIPS_person": 1e-5}


def generate(root: Path, count: int) -> tuple[Path, Path]:
    """``count`` 1K pairs (alternating 1024x768 and 768x1024) with one or two people."""
    from tests.synth import degrade, ellipse_mask, scene, write_grey, write_rgb

    rng = np.random.default_rng(2026)
    ref, res = root / "ref", root / "res"
    for i in range(1, count + 1):
        height, width = (768, 1024) if i % 2 else (1024, 768)
        gt = scene(height, width, rng)
        people = [(0.6, 0.5, 0.4, 0.22)] if i % 3 else [(0.6, 0.3, 0.35, 0.15), (0.6, 0.7, 0.35, 0.15)]
        write_rgb(ref / "gt" / f"{i:04d}.png", gt)
        write_grey(ref / "mask_personmask" / f"{i:04d}.png", ellipse_mask(height, width, people))
        write_rgb(res / f"{i:04d}.png", degrade(gt, rng))
    return ref, res


def timed_run(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``command`` in a fresh process, start-up and exit included."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{command[1]} failed with exit code {process.returncode}")
    return wall, usage.ru_maxrss / 1024.0


def run_published(ref: Path, res: Path, out: Path) -> tuple[float, float]:
    out.mkdir(parents=True, exist_ok=True)
    return timed_run([sys.executable, str(REPO / "tools" / "published_scorer.py"), str(ref), str(res),
                      str(out / "published.json")], REPO)


def run_ours(ref: Path, res: Path, out: Path) -> tuple[float, float]:
    """scoring_program/score.py exactly as Codabench runs it (cwd = the program folder)."""
    return timed_run([sys.executable, "score.py", "--reference-dir", str(ref), "--prediction-dir", str(res),
                      "--output-dir", str(out), "--quiet"], REPO / "scoring_program")


def stage_breakdown(ref: Path, res: Path, count: int) -> None:
    """Per-stage mean times (ms/image) of both implementations on the first ``count`` images."""
    import published_scorer as pub
    import torch

    from aiflash.discovery import find_predictions, find_reference, match_cases
    from aiflash.metrics.deltae import person_delta_e
    from aiflash.metrics.lpips import LpipsAlex, person_lpips
    from aiflash.metrics.psnr import background_psnr
    from aiflash.metrics.ssim import global_ssim
    from aiflash.scoring import load_case

    cases = match_cases(find_reference(ref), find_predictions(res))[:count]
    ours = LpipsAlex("cpu")
    theirs = pub.build_lpips()
    totals: dict[str, float] = {}

    def clock(name: str, fn, *args):
        start = time.perf_counter()
        value = fn(*args)
        totals[name] = totals.get(name, 0.0) + (time.perf_counter() - start) * 1000 / len(cases)
        return value

    for case in cases:
        loaded = clock("ours: decode+validate", load_case, case)
        r, g, p = loaded.result, loaded.gt, loaded.person
        clock("ours: PSNR_bg", background_psnr, r, g, p)
        clock("ours: SSIM_global", global_ssim, r, g)
        clock("ours: DeltaE_person", person_delta_e, r, g, p)
        clock("ours: LPIPS_person", person_lpips, ours, r, g, p)
        sr = clock("published: decode", pub.load_image, case.prediction_path)
        hr = clock("published: decode", pub.load_image, case.gt_path)
        mask = clock("published: decode", pub.load_mask, case.mask_path)
        sr_t, hr_t, m_t = pub.to_tensor(sr), pub.to_tensor(hr), torch.from_numpy(mask)[None, None]
        clock("published: PSNR_bg", pub.psnr_bg, sr_t, hr_t, m_t)
        clock("published: SSIM_global", pub.ssim_global, sr_t, hr_t)
        clock("published: DeltaE_person", pub.deltae_person, sr, hr, mask)
        clock("published: LPIPS_person", pub.lpips_person, theirs, sr, hr, mask)
    print(f"\nPer-stage mean over {len(cases)} images (ms/image, in-process, LPIPS model built once):")
    for name, ms in totals.items():
        print(f"  {name:<28} {ms:8.1f}")


def compare(out_ours: Path, out_published: Path) -> float:
    """Largest per-image difference relative to its tolerance (<= 1 means within spec §6)."""
    import pandas as pd

    ours = pd.read_csv(out_ours / "per_image_scores.csv", dtype={"image": str}).set_index("image")
    theirs = json.loads((out_published / "published.json").read_text())
    worst = 0.0
    for stem, row in theirs["per_image"].items():
        for key, tol in TOLERANCE.items():
            if row[key] is not None:
                worst = max(worst, abs(float(ours.loc[stem, key]) - row[key]) / tol)
    score = json.loads((out_ours / "scores.json").read_text())["Score"]
    worst = max(worst, abs(score - theirs["Score"]) / 1e-3)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--stage-images", type=int, default=10)
    parser.add_argument("--keep", type=Path, default=None, help="generate into (and keep) this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aiflash-bench-") as tmp:
        root = args.keep or Path(tmp)
        ref, res = (root / "ref", root / "res") if (root / "ref" / "gt").is_dir() else generate(
            root, args.images)
        count = len(list((ref / "gt").iterdir()))
        print(f"{count} pairs at 1K in {root}")
        base_wall, base_rss = run_published(ref, res, root / "out_published")
        ours_wall, ours_rss = run_ours(ref, res, root / "out_ours")
        worst = compare(root / "out_ours", root / "out_published")
        print(f"published restatement: {base_wall:7.1f} s wall  peak RSS {base_rss:7.0f} MB")
        print(f"aiflash score.py:      {ours_wall:7.1f} s wall  peak RSS {ours_rss:7.0f} MB")
        print(f"speed-up (wall, fresh processes, start-up included): {base_wall / ours_wall:.2f}x")
        print(f"largest difference / tolerance (spec §6): {worst:.3f} "
              f"({'same numbers' if worst <= 1 else 'DIFFERENT NUMBERS'})")
        stage_breakdown(ref, res, args.stage_images)


if __name__ == "__main__":
    main()
