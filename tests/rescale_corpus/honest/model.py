"""Rescale-corpus honest models: designs the rules allow, which must not be rejected.

``corpus.json`` beside this file picks ``kind``:

* ``unet``: a small U-Net (seeded weights) with internal pooling, a bilinear decoder and the person
  mask, reduced, as guidance; its output keeps a full-resolution path (the skip connection).
* ``thumbnail``: white balance and exposure estimated on a 256x256 thumbnail, applied as global
  gains at full size (nothing is enlarged back), then an edge-preserving denoise.
* ``fast_guided``: He & Sun's fast guided filter: the linear coefficients are computed on a reduced
  copy and enlarged, then applied to the full-resolution input (an operator, not the image, is
  upsampled; the code audit flags it for review, the pixels stay clean).
"""

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def to_linear(x):
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def to_srgb(x):
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def brighten(rgb8, gains=(3.8, 4.3, 5.6)):
    """Global exposure and white balance in linear light (float32 sRGB out)."""
    linear = to_linear(rgb8.astype(np.float32) / 255) * np.asarray(gains, np.float32)
    return to_srgb(linear).astype(np.float32)


class UNet(nn.Module):
    def __init__(self, width=12):
        super().__init__()
        self.enc1 = nn.Conv2d(4, width, 3, padding=1)
        self.enc2 = nn.Conv2d(width + 1, 2 * width, 3, padding=1)
        self.mid = nn.Conv2d(2 * width + 1, 2 * width, 3, padding=1)
        self.dec2 = nn.Conv2d(4 * width, width, 3, padding=1)
        self.dec1 = nn.Conv2d(2 * width, 3, 3, padding=1)

    def forward(self, rgb, mask):
        e1 = F.relu(self.enc1(torch.cat([rgb, mask], 1)))
        m2 = F.interpolate(mask, scale_factor=0.5, mode="area")  # mask guidance at 1/2
        e2 = F.relu(self.enc2(torch.cat([F.avg_pool2d(e1, 2), m2], 1)))
        m4 = F.interpolate(mask, scale_factor=0.25, mode="area")
        mid = F.relu(self.mid(torch.cat([F.max_pool2d(e2, 2), m4], 1)))
        d2 = F.relu(self.dec2(torch.cat([F.interpolate(mid, size=e2.shape[2:], mode="bilinear"), e2], 1)))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[2:], mode="bilinear"), e1], 1))
        return (rgb + 0.05 * torch.tanh(d1)).clamp(0, 1)


def unet(image, person_mask):
    torch.manual_seed(7)
    net = UNet().eval()
    height, width = image.shape[:2]
    pad_h, pad_w = -height % 4, -width % 4  # pad, not resize, to a size the pooling divides
    rgb = torch.from_numpy(brighten(image)).permute(2, 0, 1)[None]
    mask = torch.from_numpy(person_mask.astype(np.float32))[None, None]
    rgb = F.pad(rgb, (0, pad_w, 0, pad_h), mode="replicate")
    mask = F.pad(mask, (0, pad_w, 0, pad_h), mode="replicate")
    with torch.no_grad():
        out = net(rgb, mask)[0, :, :height, :width]
    return out.permute(1, 2, 0).numpy()


def thumbnail(image, person_mask):
    thumb = cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)  # statistics only
    linear = to_linear(thumb.astype(np.float32) / 255).reshape(-1, 3)
    means = linear.mean(0) + 1e-6
    gains = (means.mean() / means) * min(0.18 / (means.mean() + 1e-6), 16.0)
    out = to_srgb(to_linear(image.astype(np.float32) / 255) * gains.astype(np.float32))
    return cv2.bilateralFilter(out.astype(np.float32), 5, 0.08, 3)


def fast_guided(image, person_mask, radius=8, eps=2e-3, step=4):
    guide = brighten(image)
    height, width = guide.shape[:2]
    small = cv2.resize(guide, (width // step, height // step), interpolation=cv2.INTER_AREA)
    r = max(1, radius // step)

    def box(a):
        return cv2.boxFilter(a, -1, (2 * r + 1, 2 * r + 1))

    mean_i = box(small)
    var = box(small * small) - mean_i * mean_i
    a = var / (var + eps)
    b = mean_i - a * mean_i
    a_full = cv2.resize(box(a), (width, height), interpolation=cv2.INTER_LINEAR)
    b_full = cv2.resize(box(b), (width, height), interpolation=cv2.INTER_LINEAR)
    return a_full * guide + b_full


KINDS = {"unet": unet, "thumbnail": thumbnail, "fast_guided": fast_guided}


def honest(image, kind, person_mask=None):
    mask = np.zeros(image.shape[:2], bool) if person_mask is None else person_mask
    out = KINDS[kind](image, mask)
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


class Model:
    def __init__(self, weights_dir, device):
        self.kind = json.loads((Path(weights_dir) / "corpus.json").read_text())["kind"]

    def restore(self, image, person_mask):
        return honest(image, self.kind, person_mask)
