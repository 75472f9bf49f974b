#!/usr/bin/env python3
"""Plain per-image restatement of the organisers' published scorer (the parity reference).

This restates the algorithm of zsn1434/AI_Flash-BaseLine ``evaluate.py`` @3064119 the way that
script computes it (spec ``scoring.md`` §2–4): cv2 decode to float32/255, torch PSNR on the
background, torch ``conv2d`` SSIM with the 5x5 binomial window and zero padding, cv2 8-bit Lab
Delta E, one LPIPS-Alex call per person crop (the ``lpips`` package, inputs normalised from
[0,1]) and the adaptive-weight Score. Only its bugs are left out: images are matched by whole
stem, and a missing mask is an error rather than a silent whole-frame fallback.

It is deliberately *not* optimised: tests use it as the independent reference for our fast path,
and ``tools/bench_scoring.py`` times it as the baseline.

    python tools/published_scorer.py REFERENCE_DIR PREDICTION_DIR OUTPUT_JSON
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

KERNEL = [[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6], [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]]
RANGES = {"PSNR_bg": (15.0, 38.0, False), "SSIM_global": (0.60, 0.99, False),
          "DeltaE_person": (2.0, 40.0, True), "LPIPS_person": (0.0, 0.15, True)}


def load_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def load_mask(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    if mask.max() > 1.0:
        mask = mask / 255.0
    return (mask > 0.5).astype(np.float32)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).unsqueeze(0)


def psnr_bg(sr: torch.Tensor, hr: torch.Tensor, mask: torch.Tensor) -> float | None:
    background = 1.0 - mask
    if background.sum() == 0:
        return None
    per_pixel = ((sr - hr) ** 2).mean(dim=1, keepdim=True)
    err = float(((per_pixel * background).sum() / background.sum()).item())
    return 100.0 if err == 0 else 20.0 * math.log10(1.0 / math.sqrt(err))


def ssim_global(sr: torch.Tensor, hr: torch.Tensor) -> float:
    y1 = 0.299 * sr[:, 0:1] + 0.587 * sr[:, 1:2] + 0.114 * sr[:, 2:3]
    y2 = 0.299 * hr[:, 0:1] + 0.587 * hr[:, 1:2] + 0.114 * hr[:, 2:3]
    kernel = torch.tensor(KERNEL, dtype=sr.dtype)
    kernel = (kernel / kernel.sum()).view(1, 1, 5, 5)
    conv = torch.nn.functional.conv2d
    mu1, mu2 = conv(y1, kernel, padding=2), conv(y2, kernel, padding=2)
    sigma1 = conv(y1 * y1, kernel, padding=2) - mu1 * mu1
    sigma2 = conv(y2 * y2, kernel, padding=2) - mu2 * mu2
    sigma12 = conv(y1 * y2, kernel, padding=2) - mu1 * mu2
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1 * mu1 + mu2 * mu2 + c1) * (sigma1 + sigma2 + c2))
    return float(ssim_map.mean().item())


def deltae_person(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float | None:
    if mask.sum() == 0:
        return None
    lab1 = cv2.cvtColor((a * 255.0).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
    lab2 = cv2.cvtColor((b * 255.0).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
    de = np.sqrt(np.sum((lab1 - lab2) ** 2, axis=2))
    return float((de * mask).sum() / mask.sum())


def crop_by_mask(img: np.ndarray, mask: np.ndarray, pad: int = 8) -> np.ndarray | None:
    ys, xs = np.where(mask > 0.5)
    if len(xs) == 0:
        return None
    y0, y1 = max(0, int(ys.min()) - pad), min(img.shape[0] - 1, int(ys.max()) + pad)
    x0, x1 = max(0, int(xs.min()) - pad), min(img.shape[1] - 1, int(xs.max()) + pad)
    return img[y0 : y1 + 1, x0 : x1 + 1, :]


def build_lpips():
    """The ``lpips`` package's LPIPS-Alex v0.1 with the offline backbone."""
    import warnings

    import lpips

    from aiflash.lpips_weights import load_weights

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
    backbone = load_weights().backbone
    state = {f"net.{name}": torch.from_numpy(backbone["features." + name.split(".", 1)[1]])
             for name, _ in model.net.named_parameters()}
    model.load_state_dict(state, strict=False)
    return model.eval()


def lpips_person(model, sr: np.ndarray, hr: np.ndarray, mask: np.ndarray) -> float | None:
    crop_sr, crop_hr = crop_by_mask(sr, mask), crop_by_mask(hr, mask)
    if crop_sr is None:
        return None
    with torch.no_grad():
        return float(model(to_tensor(crop_sr), to_tensor(crop_hr), normalize=True).mean().item())


def image_metrics(model, sr: np.ndarray, hr: np.ndarray, mask: np.ndarray) -> dict:
    sr_t, hr_t, mask_t = to_tensor(sr), to_tensor(hr), torch.from_numpy(mask)[None, None]
    return {
        "PSNR_bg": psnr_bg(sr_t, hr_t, mask_t),
        "SSIM_global": ssim_global(sr_t, hr_t),
        "DeltaE_person": deltae_person(sr, hr, mask),
        "LPIPS_person": lpips_person(model, sr, hr, mask),
    }


def normalize_value(value: float, low: float, high: float, invert: bool) -> float:
    scaled = (float(value) - low) / (high - low)
    if invert:
        scaled = 1.0 - scaled
    return max(0.0, min(1.0, scaled))


def total_score(means: dict) -> tuple[float, float]:
    """(Score, GlobalScore) exactly as the published compute_total_score/compute_adaptive_score."""
    n = {k: normalize_value(means[k], *RANGES[k]) for k in RANGES}
    lpips_m, deltae_m = n["LPIPS_person"] ** 1.2, n["DeltaE_person"] ** 1.2
    global_m = 0.5 * n["PSNR_bg"] ** 1.2 + 0.5 * n["SSIM_global"] ** 1.2
    weights = {"lpips": 0.3, "deltae": 0.3, "global": 0.4}
    scores = {"lpips": lpips_m, "deltae": deltae_m, "global": global_m}
    adj = {k: w * np.exp((1.0 - scores[k]) * 2.0) for k, w in weights.items()}
    total = sum(scores[k] * adj[k] / sum(adj.values()) for k in scores)
    return 30.0 + 70.0 * float(total), float(global_m)


def score_folder(reference_dir: Path, prediction_dir: Path) -> dict:
    model = build_lpips()
    per_image = {}
    for gt_path in sorted((reference_dir / "gt").iterdir()):
        stem = gt_path.stem
        sr_path = next(p for p in prediction_dir.iterdir() if p.stem == stem)
        mask_path = next(p for p in (reference_dir / "mask_personmask").iterdir() if p.stem == stem)
        per_image[stem] = image_metrics(model, load_image(sr_path), load_image(gt_path),
                                        load_mask(mask_path))
    means = {k: float(np.mean([r[k] for r in per_image.values() if r[k] is not None])) for k in RANGES}
    score, global_score = total_score(means)
    return {"Score": score, "GlobalScore": global_score, **means, "per_image": per_image}


if __name__ == "__main__":
    ref, res, out = (Path(a) for a in sys.argv[1:4])
    Path(out).write_text(json.dumps(score_folder(ref, res), indent=2))
