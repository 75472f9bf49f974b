"""Planted inputs for the ranking statistics: per-image score files of many teams (two of them
near-equal), the results tables they give, a sealed key and expert vote files, written the way
the scorer, ``aiflash reproduce`` and the assessment page write them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from aiflash.assess.model import KEY_FORMAT, VOTES_FORMAT, labels_for
from aiflash.formula import compute_score
from aiflash.profile import SCORED_METRICS, load_profile

PROFILE = load_profile()
HEADER = "team,Score,LPIPS_person,DeltaE_person,PSNR_bg,SSIM_global,GlobalScore"


def team_names(count: int) -> list[str]:
    names = ["Aurora", "Borealis", "Cirrus", "Dusk", "Ember", "Flare", "Gleam", "Halo", "Iris", "Jade",
             "Kite", "Lumen"]
    return names[:count] if count <= len(names) else [f"team{i:02d}" for i in range(count)]


def planted_per_image(teams: list[str], images: int, seed: int = 0,
                      near_equal: tuple[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """Team k is better than team k+1 by a clear constant step, except ``near_equal``: the second
    of that pair gets the first one's values shuffled between images (same Score, tied)."""
    rng = np.random.default_rng(seed)
    common = {"LPIPS_person": rng.normal(0.04, 0.012, images), "DeltaE_person": rng.normal(8, 2, images),
              "PSNR_bg": rng.normal(26, 2.5, images), "SSIM_global": rng.normal(0.88, 0.03, images)}
    out = {}
    for k, team in enumerate(teams):
        frame = pd.DataFrame({"image": [f"{i + 1:04d}" for i in range(images)],
                              "result_file": [f"{i + 1:04d}.png" for i in range(images)]})
        noise = rng.normal(0, 0.002, images)
        frame["LPIPS_person"] = np.clip(common["LPIPS_person"] + 0.004 * k + noise, 0.001, None)
        delta_e = common["DeltaE_person"] + 0.3 * k + rng.normal(0, 0.2, images)
        frame["DeltaE_person"] = np.clip(delta_e, 2, None)
        # Background PSNR trades against the person metrics (the challenge report's observation).
        frame["PSNR_bg"] = common["PSNR_bg"] + 0.25 * k + rng.normal(0, 0.3, images)
        ssim = common["SSIM_global"] - 0.002 * k + rng.normal(0, 0.003, images)
        frame["SSIM_global"] = np.clip(ssim, 0.6, 0.99)
        out[team] = frame
    if near_equal:
        first, second = near_equal
        values = out[first][list(SCORED_METRICS)].to_numpy()[rng.permutation(images)]
        out[second] = out[first].assign(**dict(zip(SCORED_METRICS, values.T, strict=True)))
    return out


def results_row(team: str, frame: pd.DataFrame) -> str:
    means = {k: float(frame[k].mean()) for k in SCORED_METRICS}
    b = compute_score(means, PROFILE)
    return (f"{team},{b.score:.6f},{means['LPIPS_person']:.6f},{means['DeltaE_person']:.6f},"
            f"{means['PSNR_bg']:.6f},{means['SSIM_global']:.6f},{b.global_score:.6f}")


def write_phase(root: Path, per_image: dict[str, pd.DataFrame]) -> tuple[Path, Path]:
    """results.csv and a per-image folder (<team>/per_image_scores.csv)."""
    folder = root / "per_image"
    for team, frame in per_image.items():
        (folder / team).mkdir(parents=True, exist_ok=True)
        frame.to_csv(folder / team / "per_image_scores.csv", index=False, float_format="%.6f")
    table = root / "results.csv"
    table.write_text(HEADER + "\n" + "\n".join(results_row(t, f) for t, f in per_image.items()) + "\n")
    return table, folder


def write_reproduction(root: Path, per_image: dict[str, pd.DataFrame]) -> Path:
    """reproduction.csv plus teams/<team>/scoring/per_image_scores.csv, as `aiflash reproduce`."""
    rows = []
    for team, frame in per_image.items():
        scoring = root / "teams" / team / "scoring"
        scoring.mkdir(parents=True, exist_ok=True)
        frame.to_csv(scoring / "per_image_scores.csv", index=False, float_format="%.6f")
        score = results_row(team, frame)
        online = float(score.split(",")[1]) + 0.01
        rows.append(f"{score},{online:.4f},,false,ok,")
    path = root / "reproduction.csv"
    path.write_text(HEADER + ",online_score,difference,discrepancy,status,reason\n" + "\n".join(rows) + "\n")
    return path


def write_votes(root: Path, teams: list[str], images: int, experts: int,
                taste: dict[str, float], seed: int = 0, contrarian: str | None = None) -> tuple[Path, Path]:
    """A sealed key and one vote file per expert: each expert draws a Top-3 per image with
    probabilities following ``taste``; ``contrarian`` (an expert id) reverses it."""
    rng = np.random.default_rng(seed)
    image_ids = [f"{i + 1:04d}" for i in range(images)]
    labels = {}
    for image in image_ids:
        order = rng.permutation(len(teams))
        labels[image] = {label: teams[i] for label, i in zip(labels_for(len(teams)), order, strict=True)}
    pages, votes = [], root / "votes"
    votes.mkdir(parents=True, exist_ok=True)
    for e in range(1, experts + 1):
        expert = f"E{e}"
        weights = np.array([taste[t] for t in teams])
        if expert == contrarian:
            weights = weights.max() + weights.min() - weights
        p = weights / weights.sum()
        page_id = f"page-{expert}"
        chosen = {}
        for image in image_ids:
            top = rng.choice(teams, 3, replace=False, p=p)
            by_team = {team: label for label, team in labels[image].items()}
            chosen[image] = [by_team[t] for t in top]
        pages.append({"expert": expert, "file": f"{expert}.html", "page_id": page_id, "sha256": "0" * 64,
                      "order": image_ids})
        (votes / f"votes_{expert}.json").write_text(json.dumps({
            "format": VOTES_FORMAT, "assessment_id": "planted", "page_id": page_id, "expert": expert,
            "votes": chosen}))
    key = root / "key.json"
    key.write_text(json.dumps({"format": KEY_FORMAT, "assessment_id": "planted", "seed": seed,
                               "teams": teams, "images": image_ids, "labels": labels, "pages": pages}))
    return key, votes
