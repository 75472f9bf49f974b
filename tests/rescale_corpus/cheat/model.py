"""Rescale-corpus cheat: "restores" at reduced resolution and enlarges the result back. DO NOT COPY.

One submission, many mechanisms: ``corpus.json`` beside this file picks ``mechanism`` (a key of
MECHANISMS), ``factor`` (1.5, 2 or 4) and ``after`` (none, noise, sharpen, jpeg: applied after the
enlargement to hide its trace), either once or per image under ``images`` keyed by the SHA-1 of
the input array (so one run can carry a different cheat on each image). Each mechanism is a way
to reduce and enlarge that the code-level audit of the ingestion program may not see; the content
check (aiflash.forensics) judges the pixels. The low-resolution "restoration" is a global exposure
gain, as a fast model would do.
"""

import hashlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F


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


MECHANISMS = {f.__name__: f for f in (
    numpy_stride_repeat, reshape_mean_kron, avgpool_repeat_interleave, maxpool_pixel_shuffle,
    avgpool_conv_transpose, grid_sample, aten_upsample, scipy_ndimage_zoom, scipy_signal_resample,
    pil_transform, pil_core_resize, skimage_warp, cv2_warp_affine, torchscript, separable_3d,
    dummy_channels, padded_transposed, cv2_resize)}
INTEGER_ONLY = {"reshape_mean_kron", "avgpool_repeat_interleave", "maxpool_pixel_shuffle",
                "avgpool_conv_transpose"}


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
    return rgb8


def exposure_gain(rgb):
    """The low-resolution "restoration": a global gain in linear light."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((np.clip(rgb, 0, 1) + 0.055) / 1.055) ** 2.4) * 4.5
    linear = np.clip(linear, 0, 1)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return srgb.astype(np.float32)


def cheat(image, mechanism, factor, after, seed=0):
    """uint8 RGB in, uint8 RGB of the same size out, via ``mechanism`` at ``factor``."""
    rgb = image.astype(np.float32) / 255
    out = MECHANISMS[mechanism](rgb, factor, exposure_gain)
    out8 = np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)
    assert out8.shape == image.shape, (mechanism, out8.shape, image.shape)
    return after_effect(out8, after, seed)


class Model:
    def __init__(self, weights_dir, device):
        self.config = json.loads((Path(weights_dir) / "corpus.json").read_text())

    def restore(self, image, person_mask):
        key = hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()
        chosen = self.config.get("images", {}).get(key, self.config)
        return cheat(image, chosen["mechanism"], chosen["factor"], chosen["after"])
