"""Tiny CNN sample submission: a small convolutional network in PyTorch, weights shipped in the zip.

It shows the mechanics a learned model needs, not a method: the weights (``tiny_cnn.pt``, 14 KB)
are seeded random values made by ``make_weights.py``, so the output is the input plus a faint
random residual. Replace the network and the weights with yours.

Per-image API (recommended): the ingestion program builds ``Model(weights_dir, device)`` once and
calls ``restore(image, person_mask)`` per image, inside ``torch.no_grad()``:
- ``weights_dir`` (str): the folder your zip was unpacked to; ``device`` (str): "cuda" or "cpu";
- ``image``: HxWx3 uint8 RGB numpy array; ``person_mask``: HxW bool numpy array;
- return: HxWx3 numpy array of the input's exact size, uint8 or float in [0, 1].

The network runs at the input's full resolution: 3x3 convolutions with padding keep H and W, so
no resampling is needed (resolution rescaling is forbidden and the guard rejects it). A model
that needs sizes divisible by 2^k should pad (and crop back), not resize. A few seconds per 1K
image on a CPU.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

WEIGHTS_FILE = "tiny_cnn.pt"


class TinyNet(nn.Module):
    """RGB + person mask in, RGB out: out = clamp(rgb + residual)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.head = nn.Conv2d(4, width, 3, padding=1)
        self.body = nn.Conv2d(width, width, 3, padding=1)
        self.tail = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        features = F.relu(self.body(F.relu(self.head(torch.cat([rgb, mask], dim=1)))))
        return (rgb + self.tail(features)).clamp(0.0, 1.0)


class Model:
    def __init__(self, weights_dir: str, device: str):
        self.device = torch.device(device)
        self.net = TinyNet()
        state = torch.load(Path(weights_dir) / WEIGHTS_FILE, map_location=self.device, weights_only=True)
        self.net.load_state_dict(state)
        self.net.to(self.device).eval()

    @torch.no_grad()
    def restore(self, image: np.ndarray, person_mask: np.ndarray) -> np.ndarray:
        rgb = torch.from_numpy(image).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        mask = torch.from_numpy(person_mask).to(self.device)[None, None].float()
        out = self.net(rgb, mask)
        return out[0].permute(1, 2, 0).cpu().numpy()  # float in [0, 1]; the ingestion rounds to 8 bits
