"""Regenerate tiny_cnn.pt (seeded random weights, the residual branch scaled down to stay faint).

    python make_weights.py
"""

from pathlib import Path

import torch
from model import WEIGHTS_FILE, TinyNet

torch.manual_seed(2026)
net = TinyNet()
with torch.no_grad():
    net.tail.weight.mul_(0.05)
    net.tail.bias.zero_()
torch.save(net.state_dict(), Path(__file__).resolve().parent / WEIGHTS_FILE)
