"""Rescale-corpus learned models: the designs winning low-light and restoration teams submit.

Honest models (every output pixel is computed from the full-resolution input), trained for a few
minutes on CPU by ``tools/train_guard_corpus.py`` on scikit-image photographs made low-light as the
sample data's inputs are (weights in ``weights/``, float16). ``corpus.json`` beside this file
picks ``kind``:

* ``esdnet``: ESDNet/UHDM-style (the NTIRE 2024 low-light winner's design): ``pixel_unshuffle(2)``
  in, a lattice of residual conv blocks at half resolution, ``pixel_shuffle(2)`` out, no global
  residual (the whole output comes out of the sub-pixel lattice);
* ``unet_ps``: Restormer/NAFNet-style U-Net: PixelUnshuffle down, PixelShuffle up, global residual;
* ``convtranspose``: Retinexformer/Uformer-style: strided 4x4 convolutions down,
  ``ConvTranspose2d(k=2, s=2)`` up, global residual;
* ``tiled``: the ``unet_ps`` weights run on 512 px tiles with 32 px overlap, blended linearly;
* ``gain_map``: a gain map predicted on a 1/4 copy, enlarged (bilinear) and multiplied with the
  full-resolution input (DeepUPE-style illumination);
* ``bilateral_grid``: HDRNet: affine colour coefficients on a 16x16x8 grid from a 128x128
  thumbnail, sliced with a learned full-resolution guide and applied per pixel;
* ``lut3d``: image-adaptive 3D LUTs (Zeng et al. 2020): three learned 17^3 LUTs mixed with
  weights from a thumbnail, applied per pixel by trilinear interpolation;
* ``denoiser``: a DnCNN-style residual denoiser at full resolution;
* ``unet_bilinear``: the control: the U-Net with bilinear upsampling of its features.

Every kind first brightens the input by a fixed gain in linear light (what a capture of this kind
needs on average) and learns the rest. Sizes the networks need are reached by reflect padding and
cropped back, never by resizing. CPU by default; ``device`` is honoured.
"""

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

GAINS = (3.8, 4.3, 5.6)  # linear-light gains of a typical capture (the sample generator's inverse)
TILE, OVERLAP = 512, 32


def brighten(x):
    """Global exposure and white balance in linear light: (N, 3, H, W) sRGB in [0, 1] -> same."""
    linear = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    linear = (linear * torch.tensor(GAINS, device=x.device).view(1, 3, 1, 1)).clamp(0, 1)
    encoded = 1.055 * linear.clamp_min(1e-8) ** (1 / 2.4) - 0.055
    return torch.where(linear <= 0.0031308, 12.92 * linear, encoded)


def conv(cin, cout, k=3):
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class Block(nn.Module):
    """conv - leaky ReLU - conv with a residual connection."""

    def __init__(self, width):
        super().__init__()
        self.a, self.b = conv(width, width), conv(width, width)

    def forward(self, x):
        return x + self.b(F.leaky_relu(self.a(x), 0.1))


class ESDNet(nn.Module):
    multiple = 2

    def __init__(self, width=32, blocks=3):
        super().__init__()
        self.head = conv(12, width)
        self.body = nn.Sequential(*[Block(width) for _ in range(blocks)])
        self.tail = conv(width, 12)

    def forward(self, x):
        y = F.leaky_relu(self.head(F.pixel_unshuffle(x, 2)), 0.1)
        return F.pixel_shuffle(self.tail(self.body(y)), 2)


class Down(nn.Module):
    def __init__(self, width, how):
        super().__init__()
        self.how = how
        if how == "pixel_shuffle":  # Restormer: conv to half the channels, PixelUnshuffle(2)
            self.op = nn.Sequential(conv(width, width // 2), nn.PixelUnshuffle(2))
        elif how == "convtranspose":  # Retinexformer/Uformer: strided 4x4 convolution
            self.op = nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)
        else:  # average pooling, then a 3x3 convolution
            self.op = nn.Sequential(nn.AvgPool2d(2), conv(width, 2 * width))

    def forward(self, x):
        return self.op(x)


class Up(nn.Module):
    def __init__(self, width, how):
        super().__init__()
        self.how = how
        if how == "pixel_shuffle":  # Restormer: conv to twice the channels, PixelShuffle(2)
            self.op = nn.Sequential(conv(width, 2 * width), nn.PixelShuffle(2))
        elif how == "convtranspose":
            self.op = nn.ConvTranspose2d(width, width // 2, 2, stride=2)
        else:
            self.op = nn.Conv2d(width, width // 2, 1)

    def forward(self, x):
        if self.how == "bilinear":
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.op(x)


class UNet(nn.Module):
    """Two-level U-Net with a global residual; ``how`` is the down/up-sampling layer type."""

    multiple = 4

    def __init__(self, how="pixel_shuffle", width=12):
        super().__init__()
        self.intro, self.enc1 = conv(3, width), Block(width)
        self.down1, self.enc2 = Down(width, how), Block(2 * width)
        self.down2, self.mid = Down(2 * width, how), Block(4 * width)
        self.up2, self.dec2 = Up(4 * width, how), Block(2 * width)
        self.up1, self.dec1 = Up(2 * width, how), Block(width)
        self.ending = conv(width, 3)

    def forward(self, x):
        e1 = self.enc1(self.intro(x))
        e2 = self.enc2(self.down1(e1))
        mid = self.mid(self.down2(e2))
        d2 = self.dec2(self.up2(mid) + e2)
        d1 = self.dec1(self.up1(d2) + e1)
        return x + self.ending(d1)


class GainMap(nn.Module):
    multiple = 4

    def __init__(self, width=16):
        super().__init__()
        self.net = nn.Sequential(conv(3, width), nn.LeakyReLU(0.1), Block(width), Block(width),
                                 conv(width, 3))

    def forward(self, x):
        small = F.avg_pool2d(x, 4)  # the reduced copy the map is predicted on
        gain = F.interpolate(torch.exp(self.net(small)), size=x.shape[2:], mode="bilinear",
                             align_corners=False)
        return x * gain


class BilateralGrid(nn.Module):
    multiple = 1

    def __init__(self, depth=8, grid=16):
        super().__init__()
        self.depth, self.grid = depth, grid
        layers, width = [], 3
        for out in (8, 16, 32):  # 128 -> 64 -> 32 -> 16
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.LeakyReLU(0.1)]
            width = out
        self.splat = nn.Sequential(*layers, conv(32, 32), nn.LeakyReLU(0.1), conv(32, 12 * depth))
        self.guide = nn.Sequential(nn.Conv2d(3, 8, 1), nn.LeakyReLU(0.1), nn.Conv2d(8, 1, 1))
        nn.init.zeros_(self.splat[-1].weight)
        with torch.no_grad():  # start as the identity transform
            self.splat[-1].bias.copy_(torch.eye(3, 4).flatten().repeat_interleave(depth))

    def forward(self, x):
        n, _, height, width = x.shape
        thumb = F.interpolate(x, size=(128, 128), mode="area")  # the low-resolution stream
        coeffs = self.splat(thumb).view(n, 12, self.depth, self.grid, self.grid)
        ys = torch.linspace(-1, 1, height, device=x.device).view(1, height, 1).expand(n, height, width)
        xs = torch.linspace(-1, 1, width, device=x.device).view(1, 1, width).expand(n, height, width)
        zs = torch.tanh(self.guide(x))[:, 0]
        sliced = F.grid_sample(coeffs, torch.stack([xs, ys, zs], -1)[:, None], mode="bilinear",
                               padding_mode="border", align_corners=True)[:, :, 0]  # (n, 12, H, W)
        a = sliced.view(n, 3, 4, height, width)
        return (a[:, :, :3] * x[:, None]).sum(2) + a[:, :, 3]


def apply_lut(lut, x):
    """Trilinear lookup of (3, S, S, S) LUT (indexed [c, r, g, b]) at every pixel of (N, 3, H, W)."""
    size = lut.shape[1]
    pos = x.clamp(0, 1) * (size - 1)
    low = pos.floor().clamp(max=size - 2)
    frac = pos - low
    low = low.long()
    flat = lut.reshape(3, -1)
    out = 0
    for dr in (0, 1):
        for dg in (0, 1):
            for db in (0, 1):
                index = ((low[:, 0] + dr) * size + low[:, 1] + dg) * size + low[:, 2] + db
                weight = ((frac[:, 0] if dr else 1 - frac[:, 0]) * (frac[:, 1] if dg else 1 - frac[:, 1])
                          * (frac[:, 2] if db else 1 - frac[:, 2]))
                out = out + flat[:, index].permute(1, 0, 2, 3) * weight[:, None]
    return out


class LUT3D(nn.Module):
    multiple = 1

    def __init__(self, luts=3, size=17):
        super().__init__()
        axis = torch.linspace(0, 1, size)
        identity = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"))
        self.luts = nn.Parameter(torch.cat([identity[None], torch.zeros(luts - 1, 3, size, size, size)]))
        self.classifier = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, luts))
        nn.init.zeros_(self.classifier[-1].weight)
        with torch.no_grad():
            self.classifier[-1].bias.copy_(torch.tensor([1.0] + [0.0] * (luts - 1)))

    def forward(self, x):
        weights = self.classifier(F.interpolate(x, size=(64, 64), mode="area"))
        return torch.stack([apply_lut(torch.einsum("k,kcrgb->crgb", w, self.luts), image[None])[0]
                            for w, image in zip(weights, x, strict=True)])


class DnCNN(nn.Module):
    multiple = 1

    def __init__(self, width=12, depth=6):
        super().__init__()
        layers = [conv(3, width), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [conv(width, width), nn.ReLU()]
        self.net = nn.Sequential(*layers, conv(width, 3))

    def forward(self, x):
        return x - self.net(x)  # the network predicts the noise


NETWORKS = {
    "esdnet": ESDNet,
    "unet_ps": lambda: UNet("pixel_shuffle"),
    "convtranspose": lambda: UNet("convtranspose"),
    "gain_map": GainMap,
    "bilateral_grid": BilateralGrid,
    "lut3d": LUT3D,
    "denoiser": DnCNN,
    "unet_bilinear": lambda: UNet("bilinear"),
}
WEIGHTS = {kind: kind for kind in NETWORKS} | {"tiled": "unet_ps"}  # kind -> weights file stem
KINDS = tuple(WEIGHTS)


def run_padded(net, x):
    """``net`` on (N, 3, H, W), reflect-padded to the multiple it needs and cropped back."""
    height, width = x.shape[2:]
    pad_h, pad_w = -height % net.multiple, -width % net.multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
    return net(x)[:, :, :height, :width]


def run_tiled(net, x, tile=TILE, overlap=OVERLAP):
    """``net`` on overlapping tiles, blended with linear ramps over the overlaps."""
    height, width = x.shape[2:]
    if height <= tile and width <= tile:
        return run_padded(net, x)

    def starts(n):
        last = max(n - tile, 0)
        return sorted(set(list(range(0, last, tile - overlap)) + [last]))

    out = torch.zeros_like(x)
    total = torch.zeros_like(x[:, :1])
    for top in starts(height):
        for left in starts(width):
            piece = x[:, :, top: top + tile, left: left + tile]
            h, w = piece.shape[2:]
            ramp_y = torch.clamp((torch.arange(h, device=x.device) + 1) / overlap, max=1)
            ramp_x = torch.clamp((torch.arange(w, device=x.device) + 1) / overlap, max=1)
            ramp_y, ramp_x = torch.minimum(ramp_y, ramp_y.flip(0)), torch.minimum(ramp_x, ramp_x.flip(0))
            weight = (ramp_y[:, None] * ramp_x[None, :])[None, None]
            out[:, :, top: top + h, left: left + w] += run_padded(net, piece) * weight
            total[:, :, top: top + h, left: left + w] += weight
    return out / total


def build(kind, weights_dir, device="cpu"):
    """The network of ``kind`` with its trained weights (float16 on disk) loaded, in eval mode."""
    net = NETWORKS[WEIGHTS[kind]]()
    state = torch.load(Path(weights_dir) / f"{WEIGHTS[kind]}.pt", map_location="cpu", weights_only=True)
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.to(device).eval()


def forward(kind, net, x):
    """Brighten, then the network (tiled for ``tiled``), clamped to [0, 1]."""
    x = brighten(x)
    return (run_tiled(net, x) if kind == "tiled" else run_padded(net, x)).clamp(0, 1)


class Model:
    def __init__(self, weights_dir, device):
        here = Path(weights_dir)
        self.kind = json.loads((here / "corpus.json").read_text())["kind"]
        self.device = torch.device(device)
        self.net = build(self.kind, here / "weights", self.device)

    @torch.no_grad()
    def restore(self, image, person_mask):
        x = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1)[None].float() / 255
        out = forward(self.kind, self.net, x)
        return out[0].permute(1, 2, 0).cpu().numpy()
