"""Cheating sample submission: processes at half resolution and upscales back. DO NOT COPY.

It downscales the input by 2, "restores" it there (nothing: the point is the rescaling) and
upscales the result back to the input's size, so the output has the right shape and would pass
a size check. The rules forbid this (results must be computed at the input's resolution) and the
ingestion program's resampling audit catches both calls: under the final phase's ``reject``
policy every image fails with the file and line of the offending call.
"""

import numpy as np
import torch
from torch.nn import functional as F


class Model:
    def __init__(self, weights_dir: str, device: str):
        self.device = torch.device(device)

    def restore(self, image: np.ndarray, person_mask: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        rgb = torch.from_numpy(image).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        small = F.interpolate(rgb, scale_factor=0.5, mode="bilinear", antialias=True)
        restored = small  # a model would run here, on a quarter of the pixels
        full = F.interpolate(restored, size=(height, width), mode="bilinear")
        return full[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy()
