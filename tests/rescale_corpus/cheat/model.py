"""Rescale-corpus cheat: "restores" at reduced resolution and enlarges the result back. DO NOT COPY.

One submission, many mechanisms: ``corpus.json`` beside this file picks ``mechanism`` (a key of
MECHANISMS), ``factor`` (the reduction divisor: 10/9 and 1.25, i.e. scale 0.9 and 0.8, 1.5, 2 or
4; the INTEGER_ONLY mechanisms take integers, ``learned_x2`` powers of two) and ``after`` (none,
noise, sharpen, jpeg, median: applied after the enlargement to hide its trace), optionally
``region`` (all, background, person: reduce only that part of the image, using the person mask;
the rest is made at full resolution), ``paste_detail`` (add the input's detail back: the grey
zone) and ``evasion`` (see below), either once or per image under ``images`` keyed by the SHA-1
of the input array (so one run can carry a different cheat on each image; an input whose digest
is not listed takes the settings of the earlier input it is a near duplicate of, else the
top-level ones). Each mechanism is a way to reduce and enlarge that the
code-level audit of the ingestion program may not see; the content check (aiflash.forensics) and
the resolution probe judge the pixels. The low-resolution "restoration" is a global exposure gain,
as a fast model would do.

Probe evasions (``evasion``): the model remembers a 32x32 thumbnail of every input it has seen in
this process; an input whose thumbnail correlates above 0.995 with an earlier one's (the same
photograph with faint perturbations) is a *near duplicate*, answered by

* ``near_duplicate``: processing it honestly at full resolution (it assumes the scored image comes
  first and any probe of it afterwards; the first-seen input is the one made at low resolution);
* ``cached``: the earlier input's output, unchanged;
* ``constant``: a flat image of the earlier output's mean colour (``answer: input``: the input
  itself).
"""

import hashlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

WEIGHTS = Path(__file__).resolve().parent / "weights"


def _small(shape, factor):
    return max(1, round(shape[0] / factor)), max(1, round(shape[1] / factor))


def _tensor(rgb):
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()


def _array(t):
    return t[0].permute(1, 2, 0).numpy()


def _fit(rgb, shape):
    """Crop or edge-pad to exactly HxW (block methods overshoot or fall short by a few pixels)."""
    rgb = rgb[: shape[0], : shape[1]]
    pad = ((0, shape[0] - rgb.shape[0]), (0, shape[1] - rgb.shape[1]), (0, 0))
    return np.pad(rgb, pad, mode="edge")


def _integer(factor):
    if float(factor) != int(factor):
        raise NotImplementedError("integer factors only")
    return int(factor)


# --- mechanisms: (down, up) with the restoration in between -----------------------------------
def numpy_stride_repeat(rgb, factor, restore):
    if float(factor).is_integer():
        f = int(factor)
        small = rgb[::f, ::f]
        return _fit(np.repeat(np.repeat(restore(small), f, 0), f, 1), rgb.shape)
    h, w = _small(rgb.shape, factor)  # fractional stride: index gather, nearest back
    rows = np.minimum((np.arange(h) * factor).astype(int), rgb.shape[0] - 1)
    cols = np.minimum((np.arange(w) * factor).astype(int), rgb.shape[1] - 1)
    small = restore(rgb[rows][:, cols])
    back_r = np.minimum((np.arange(rgb.shape[0]) / factor).astype(int), h - 1)
    back_c = np.minimum((np.arange(rgb.shape[1]) / factor).astype(int), w - 1)
    return small[back_r][:, back_c]


def reshape_mean_kron(rgb, factor, restore):
    f = _integer(factor)
    h, w = rgb.shape[0] // f, rgb.shape[1] // f
    small = rgb[: h * f, : w * f].reshape(h, f, w, f, 3).mean(axis=(1, 3))
    return _fit(np.kron(restore(small), np.ones((f, f, 1), np.float32)), rgb.shape)


def avgpool_repeat_interleave(rgb, factor, restore):
    f = _integer(factor)
    small = F.avg_pool2d(_tensor(rgb), f, ceil_mode=True)
    small = _tensor(restore(_array(small)))
    return _fit(_array(small.repeat_interleave(f, dim=2).repeat_interleave(f, dim=3)), rgb.shape)


def maxpool_pixel_shuffle(rgb, factor, restore):
    f = _integer(factor)
    small = _tensor(restore(_array(F.max_pool2d(_tensor(rgb), f, ceil_mode=True))))
    return _fit(_array(F.pixel_shuffle(small.repeat_interleave(f * f, dim=1), f)), rgb.shape)


def avgpool_conv_transpose(rgb, factor, restore):
    f = _integer(factor)
    small = _tensor(restore(_array(F.avg_pool2d(_tensor(rgb), f, ceil_mode=True))))
    ramp = 1 - np.abs(np.arange(2 * f) - (2 * f - 1) / 2) / f  # bilinear kernel
    kernel = torch.from_numpy(np.outer(ramp, ramp).astype(np.float32))[None, None].repeat(3, 1, 1, 1)
    big = F.conv_transpose2d(F.pad(small, (1, 1, 1, 1), mode="replicate"), kernel, stride=f, groups=3)
    return _fit(_array(big[:, :, f + f // 2:, f + f // 2:]), rgb.shape)


def _grid(height, width):
    ys = (torch.arange(height) + 0.5) / height * 2 - 1
    xs = (torch.arange(width) + 0.5) / width * 2 - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1)[None]


def grid_sample(rgb, factor, restore):
    h, w = _small(rgb.shape, factor)
    small = F.grid_sample(_tensor(rgb), _grid(h, w), mode="bilinear", align_corners=False)
    small = _tensor(restore(_array(small)))
    big = F.grid_sample(small, _grid(*rgb.shape[:2]), mode="bicubic", padding_mode="border",
                        align_corners=False)
    return _array(big)


def aten_upsample(rgb, factor, restore):
    h, w = _small(rgb.shape, factor)
    small = torch.ops.aten._upsample_bilinear2d_aa(_tensor(rgb), [h, w], False)
    small = _tensor(restore(_array(small)))
    return _array(torch.ops.aten.upsample_bicubic2d(small, list(rgb.shape[:2]), False))


def scipy_ndimage_zoom(rgb, factor, restore):
    from scipy import ndimage

    small = restore(ndimage.zoom(rgb, (1 / factor, 1 / factor, 1), order=1))
    zoom = (rgb.shape[0] / small.shape[0], rgb.shape[1] / small.shape[1], 1)
    return _fit(ndimage.zoom(small, zoom, order=3), rgb.shape)


def scipy_signal_resample(rgb, factor, restore):
    from scipy import signal

    h, w = _small(rgb.shape, factor)
    small = restore(signal.resample(signal.resample(rgb, h, axis=0), w, axis=1))
    return signal.resample(signal.resample(small, rgb.shape[0], axis=0), rgb.shape[1], axis=1)


def _pil(rgb):
    return Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8))


def pil_transform(rgb, factor, restore):
    h, w = _small(rgb.shape, factor)
    height, width = rgb.shape[:2]
    small = _pil(rgb).transform((w, h), Image.Transform.EXTENT, (0, 0, width, height),
                                Image.Resampling.BILINEAR)
    small = _pil(restore(np.asarray(small, np.float32) / 255))
    big = small.transform((width, height), Image.Transform.EXTENT, (0, 0, w, h), Image.Resampling.BICUBIC)
    return np.asarray(big, np.float32) / 255


def pil_core_resize(rgb, factor, restore):
    h, w = _small(rgb.shape, factor)
    height, width = rgb.shape[:2]
    image = _pil(rgb)
    small = image._new(image.im.resize((w, h), Image.Resampling.BOX, (0, 0, width, height)))
    small = _pil(restore(np.asarray(small, np.float32) / 255))
    big = small._new(small.im.resize((width, height), Image.Resampling.LANCZOS, (0, 0, w, h)))
    return np.asarray(big, np.float32) / 255


def skimage_warp(rgb, factor, restore):
    from skimage.transform import AffineTransform, warp

    h, w = _small(rgb.shape, factor)
    shrink = AffineTransform(scale=(rgb.shape[1] / w, rgb.shape[0] / h))
    small = restore(warp(rgb, shrink, output_shape=(h, w), order=1, mode="edge"))
    return warp(small, shrink.inverse, output_shape=rgb.shape[:2], order=3, mode="edge")


def cv2_warp_affine(rgb, factor, restore):
    h, w = _small(rgb.shape, factor)
    height, width = rgb.shape[:2]
    sx, sy = w / width, h / height
    down = np.float32([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5]])
    small = restore(cv2.warpAffine(rgb, down, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    up = cv2.invertAffineTransform(down)
    return cv2.warpAffine(small, up, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


@torch.jit.script
def _scripted_round_trip(x: torch.Tensor, h: int, w: int, height: int, width: int) -> torch.Tensor:
    small = F.interpolate(x, size=[h, w], mode="area")
    return F.interpolate(small * 1.0, size=[height, width], mode="bilinear", align_corners=False)


def torchscript(rgb, factor, restore):
    # the restoration is a global gain, so it commutes with the scripted round trip
    h, w = _small(rgb.shape, factor)
    return restore(_array(_scripted_round_trip(_tensor(rgb), h, w, *rgb.shape[:2])))


def separable_3d(rgb, factor, restore):
    h, w = _small(rgb.shape, factor)
    height, width = rgb.shape[:2]

    def along_width(t, size):  # t: (C, H, W) as a 3-D batch of rows
        return F.interpolate(t, size=size, mode="linear", align_corners=False)

    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()
    t = along_width(along_width(t, w).transpose(1, 2), h).transpose(1, 2)
    t = torch.from_numpy(np.ascontiguousarray(restore(t.permute(1, 2, 0).numpy()))).permute(2, 0, 1)
    t = along_width(along_width(t, width).transpose(1, 2), height).transpose(1, 2)
    return t.permute(1, 2, 0).numpy()


def dummy_channels(rgb, factor, restore):
    h, w = _small(rgb.shape, factor)
    x = torch.cat([_tensor(rgb), torch.zeros(1, 2, *rgb.shape[:2])], dim=1)  # RGB + 2 dummies
    small = F.interpolate(x, size=(h, w), mode="area")[:, :3]
    small = torch.cat([_tensor(restore(_array(small))), torch.zeros(1, 2, h, w)], dim=1)
    return _array(F.interpolate(small, size=rgb.shape[:2], mode="bicubic", align_corners=False)[:, :3])


def padded_transposed(rgb, factor, restore):
    h, w = _small(rgb.shape, factor)
    x = F.pad(_tensor(rgb), (1, 1, 1, 1), mode="replicate").transpose(2, 3)
    small = F.interpolate(x, size=(w + 1, h + 1), mode="bilinear", antialias=True).transpose(2, 3)
    small = _tensor(restore(_array(small))).transpose(2, 3)
    big = F.interpolate(small, size=(rgb.shape[1] + 2, rgb.shape[0] + 2), mode="bilinear")
    return _array(big.transpose(2, 3))[1:-1, 1:-1]


def cv2_resize(rgb, factor, restore):
    h, w = _small(rgb.shape, factor)
    small = restore(cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA))
    return cv2.resize(small, rgb.shape[1::-1], interpolation=cv2.INTER_CUBIC)


class LearnedX2(nn.Module):
    """ESPCN-style learned x2 upsampler: convolutions at the reduced size, PixelShuffle(2) out,
    initialised as a nearest enlargement (trained by tools/train_guard_corpus.py on the same
    photographs to map a half-size copy to the full-size one)."""

    def __init__(self, width=24):
        super().__init__()
        self.head = nn.Conv2d(3, width, 3, padding=1)
        self.body = nn.Sequential(nn.LeakyReLU(0.1), nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.1),
                                  nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.1))
        self.tail = nn.Conv2d(width, 12, 3, padding=1)

    def forward(self, x):
        return F.pixel_shuffle(self.tail(self.body(self.head(x))) + x.repeat_interleave(4, dim=1), 2)


_UPSAMPLER = []  # the trained LearnedX2, loaded on first use


def learned_x2(rgb, factor, restore):
    """Average pooling by ``factor`` (a power of two), then the learned x2 upsampler as often as
    it takes to get back."""
    f = _integer(factor)
    if f & (f - 1):
        raise NotImplementedError("powers of two only")
    if not _UPSAMPLER:
        net = LearnedX2()
        state = torch.load(WEIGHTS / "learned_x2.pt", map_location="cpu", weights_only=True)
        net.load_state_dict({k: v.float() for k, v in state.items()})
        _UPSAMPLER.append(net.eval())
    x = _tensor(rgb)
    pad_h, pad_w = -rgb.shape[0] % f, -rgb.shape[1] % f
    small = F.avg_pool2d(F.pad(x, (0, pad_w, 0, pad_h), mode="replicate"), f)
    big = _tensor(restore(_array(small)))
    with torch.no_grad():
        while f > 1:
            big, f = _UPSAMPLER[0](big), f // 2
    return _array(big)[: rgb.shape[0], : rgb.shape[1]]


def rotate_scale(rgb, factor, restore, angle=3.0):
    """Rotate by a small angle while reducing by ``factor`` (the canvas holds the whole rotated
    image), restore, then rotate back and enlarge."""
    height, width = rgb.shape[:2]
    cos, sin = abs(np.cos(np.radians(angle))), abs(np.sin(np.radians(angle)))
    w = int(np.ceil((width * cos + height * sin) / factor))
    h = int(np.ceil((width * sin + height * cos) / factor))
    down = cv2.getRotationMatrix2D((width / 2 - 0.5, height / 2 - 0.5), angle, 1 / factor)
    down[:, 2] += (w / 2 - 0.5 - (width / 2 - 0.5)), (h / 2 - 0.5 - (height / 2 - 0.5))
    small = restore(cv2.warpAffine(rgb, down, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    up = cv2.invertAffineTransform(down)
    return cv2.warpAffine(small, up, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def jittered_grid(rgb, factor, restore, jitter=0.35, seed=0):
    """Sample the reduced image on a randomly jittered grid (each sample moved by up to
    ``jitter`` of the reduced pixel pitch), restore, and enlarge on another jittered grid."""
    rng = np.random.default_rng(seed)
    height, width = rgb.shape[:2]
    h, w = _small(rgb.shape, factor)
    fy, fx = height / h, width / w

    def remap(image, rows, cols, pitch_y, pitch_x, flags):
        ys = rows[:, None] + rng.uniform(-jitter, jitter, (rows.size, cols.size)) * pitch_y
        xs = cols[None, :] + rng.uniform(-jitter, jitter, (rows.size, cols.size)) * pitch_x
        return cv2.remap(image, xs.astype(np.float32), ys.astype(np.float32), flags,
                         borderMode=cv2.BORDER_REFLECT)

    small = remap(rgb, (np.arange(h) + 0.5) * fy - 0.5, (np.arange(w) + 0.5) * fx - 0.5, fy, fx,
                  cv2.INTER_LINEAR)
    small = restore(small)
    return remap(small, (np.arange(height) + 0.5) / fy - 0.5, (np.arange(width) + 0.5) / fx - 0.5,
                 1.0, 1.0, cv2.INTER_CUBIC)


MECHANISMS = {f.__name__: f for f in (
    numpy_stride_repeat, reshape_mean_kron, avgpool_repeat_interleave, maxpool_pixel_shuffle,
    avgpool_conv_transpose, grid_sample, aten_upsample, scipy_ndimage_zoom, scipy_signal_resample,
    pil_transform, pil_core_resize, skimage_warp, cv2_warp_affine, torchscript, separable_3d,
    dummy_channels, padded_transposed, cv2_resize, learned_x2, rotate_scale, jittered_grid)}
INTEGER_ONLY = {"reshape_mean_kron", "avgpool_repeat_interleave", "maxpool_pixel_shuffle",
                "avgpool_conv_transpose", "learned_x2"}
POWER_OF_TWO_ONLY = {"learned_x2"}
REGIONS = ("all", "background", "person")
EVASIONS = ("none", "near_duplicate", "cached", "constant")
NEAR_DUPLICATE = 0.995  # thumbnail correlation above which an input counts as seen before


# --- after the enlargement ----------------------------------------------------------------------
def after_effect(rgb8, after, seed=0):
    if after == "noise":
        noise = np.random.default_rng(seed).normal(0, 3.0, rgb8.shape)
        return np.clip(rgb8 + noise, 0, 255).astype(np.uint8)
    if after == "sharpen":
        blurred = cv2.GaussianBlur(rgb8.astype(np.float32), (0, 0), 1.0)
        return np.clip(2.0 * rgb8 - blurred, 0, 255).astype(np.uint8)
    if after == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(rgb8).save(buffer, format="JPEG", quality=85)
        return np.asarray(Image.open(buffer).convert("RGB"))
    if after == "median":
        return cv2.medianBlur(rgb8, 3)
    return rgb8


def exposure_gain(rgb):
    """The low-resolution "restoration": a global gain in linear light."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((np.clip(rgb, 0, 1) + 0.055) / 1.055) ** 2.4) * 4.5
    linear = np.clip(linear, 0, 1)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return srgb.astype(np.float32)


def _to8(rgb):
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def cheat(image, mechanism, factor, after, seed=0, region="all", person_mask=None, paste_detail=False):
    """uint8 RGB in, uint8 RGB of the same size out, via ``mechanism`` at ``factor``; with
    ``region`` background or person, only that part of the image (``person_mask``, HxW bool) is
    reduced and the rest made at full resolution; with ``paste_detail`` the input's own detail
    (the input minus its round trip) is added back to the result, ``up(f(down(x))) + (x -
    up(down(x)))``: the rules' grey zone, reviewed by hand."""
    rgb = image.astype(np.float32) / 255
    out = MECHANISMS[mechanism](rgb, factor, exposure_gain)
    if paste_detail:
        out = out + rgb - MECHANISMS[mechanism](rgb, factor, lambda low: low)
    if region != "all":
        inside = np.zeros(image.shape[:2], bool) if person_mask is None else np.asarray(person_mask, bool)
        part = (~inside if region == "background" else inside).astype(np.float32)
        part = cv2.GaussianBlur(part, (0, 0), 2.0)[..., None]  # a feathered seam
        out = part * out + (1 - part) * exposure_gain(rgb)
    out8 = _to8(out)
    assert out8.shape == image.shape, (mechanism, out8.shape, image.shape)
    return after_effect(out8, after, seed)


def thumbnail(image):
    """32x32 block means of the luma, zero mean and unit norm (a near-duplicate fingerprint)."""
    luma = image.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    bh, bw = luma.shape[0] // 32, luma.shape[1] // 32
    thumb = luma[: 32 * bh, : 32 * bw].reshape(32, bh, 32, bw).mean(axis=(1, 3)).ravel()
    thumb -= thumb.mean()
    return thumb / max(float(np.linalg.norm(thumb)), 1e-6)


class Model:
    def __init__(self, weights_dir, device):
        self.config = json.loads((Path(weights_dir) / "corpus.json").read_text())
        self.seen = []  # (thumbnail, settings, output) of every input not recognised as a duplicate

    def restore(self, image, person_mask):
        key = hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()
        thumb = thumbnail(image) if min(image.shape[:2]) >= 32 else None
        earlier = None
        if thumb is not None and self.seen:
            similarity = [float(thumb @ t) for t, _, _ in self.seen]
            best = int(np.argmax(similarity))
            if similarity[best] > NEAR_DUPLICATE:
                earlier = self.seen[best]
        listed = self.config.get("images", {})
        chosen = listed.get(key) or (earlier[1] if earlier and listed else self.config)
        evasion = chosen.get("evasion", "none")
        if earlier is not None and evasion == "near_duplicate":
            return _to8(exposure_gain(image.astype(np.float32) / 255))
        if earlier is not None and evasion == "cached":
            return earlier[2]
        if earlier is not None and evasion == "constant":
            if chosen.get("answer") == "input":
                return image
            return np.broadcast_to(earlier[2].reshape(-1, 3).mean(0).astype(np.uint8), image.shape).copy()
        out = cheat(image, chosen["mechanism"], chosen["factor"], chosen["after"],
                    region=chosen.get("region", "all"), person_mask=person_mask,
                    paste_detail=chosen.get("paste_detail", False))
        if thumb is not None and earlier is None:
            self.seen.append((thumb, chosen, out))
        return out
