"""Offline LPIPS weights: the provisioned file is verified, and tampering is refused clearly."""

from __future__ import annotations

import io
import os
import pickle
import shutil

import numpy as np
import pytest

from aiflash import lpips_weights
from aiflash.errors import WeightsError


def test_installed_weights_load_and_match_their_pinned_digests():
    weights = lpips_weights.load_weights()
    names = [f"features.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias")]
    assert list(weights.backbone) == names
    assert weights.backbone["features.0.weight"].shape == (64, 3, 11, 11)
    assert [w.shape for w in weights.linear] == [(1, c, 1, 1) for c in (64, 192, 384, 256, 256)]


def test_linear_layers_are_the_lpips_packages_own():
    import importlib.util
    from pathlib import Path

    import torch

    folder = Path(next(iter(importlib.util.find_spec("lpips").submodule_search_locations)))
    state = torch.load(folder / "weights" / "v0.1" / "alex.pth", map_location="cpu", weights_only=True)
    for k, weight in enumerate(lpips_weights.load_weights().linear):
        assert np.array_equal(state[f"lin{k}.model.1.weight"].numpy(), weight)


def test_missing_weights_name_the_fix(tmp_path):
    with pytest.raises(WeightsError, match="not found.*make weights"):
        lpips_weights.load_weights(tmp_path / "absent.npz")


def test_corrupted_weights_name_the_fix(tmp_path):
    path = tmp_path / lpips_weights.FILE_NAME
    shutil.copy(lpips_weights.default_weights_dir() / lpips_weights.FILE_NAME, path)
    data = bytearray(path.read_bytes())
    data[-5000] ^= 0xFF  # flip bits inside the tensor payload
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"(corrupted|unreadable).*make weights"):
        lpips_weights.load_weights(path)


def test_install_keeps_a_valid_file_without_downloading(tmp_path, monkeypatch):
    target = tmp_path / "w"
    target.mkdir()
    shutil.copy(lpips_weights.default_weights_dir() / lpips_weights.FILE_NAME, target)
    before = os.stat(target / lpips_weights.FILE_NAME).st_mtime_ns
    assert lpips_weights.install(target) == target / lpips_weights.FILE_NAME
    assert os.stat(target / lpips_weights.FILE_NAME).st_mtime_ns == before


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unpickler_refuses_anything_but_numpy_arrays():
    payload = pickle.dumps({"AlexNet_0": _Exploit()}, protocol=3)
    with pytest.raises(WeightsError, match="refusing to unpickle"):
        lpips_weights._NumpyOnlyUnpickler(io.BytesIO(payload)).load()
    arrays = pickle.dumps({"a": np.zeros(3, np.float32)}, protocol=3)
    assert lpips_weights._NumpyOnlyUnpickler(io.BytesIO(arrays)).load()["a"].shape == (3,)


def test_checkpoint_with_wrong_bytes_is_refused():
    with pytest.raises(WeightsError, match="size or sha256"):
        lpips_weights.convert_checkpoint(b"\0" * lpips_weights.MEMBER_SIZE)
